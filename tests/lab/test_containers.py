"""Container checks on live hosts: what dockerd really records and runs, seeded to fail (risky-containers) and
to pass (hardened's compliant container)."""

from __future__ import annotations

import pytest

from remediate import app
from remediate.checks.model import FAIL, INFO, PASS
from remediate.lab.host import host_exec

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

CONTAINER_CHECKS = "containers"


def audit(lab, host: str) -> dict:
    target = app.Target(hosts=host, inventory=str(lab.inventory_path), known_hosts=[])
    _, outcomes = app.run_audit(target, app.AuditOptions(only=CONTAINER_CHECKS))
    [outcome] = outcomes
    assert outcome.ok, outcome.error
    return {r.check.id: r for r in outcome.value.results}


@pytest.fixture(scope="module")
def risky(lab) -> dict:
    return audit(lab, "risky-containers")


def evidence(result) -> str:
    return "\n".join(result.evidence)


def test_mounts_that_reach_an_api_socket_fail_and_say_which_api(risky):
    for check in ("5.32", "REM-SOCK-MOUNT"):
        text = evidence(risky[check])
        assert risky[check].status == FAIL
        assert "mounts /run/containerd/containerd.sock: reaches the containerd API" in text
        assert "mounts /: reaches the Docker API (/run/docker.sock), the containerd API" in text  # read-only
        assert "sock-mount (running): mounts /var/run/docker.sock: reaches the Docker API" in text


def test_publish_all_and_a_port_range_are_seen(risky):
    assert risky["5.14"].status == FAIL
    assert "publish-all (running): published on every interface (-P: every exposed port)" in evidence(risky["5.14"])
    assert "->8080/tcp" in evidence(risky["5.14"])  # the random host port -P chose for the exposed 8080
    # running: the real bindings, one per port of the range (and one per address family, said once)
    assert "publish-all (running): publishes privileged port(s) 80->80/tcp, 81->81/tcp" in evidence(risky["5.8"])


def test_sshd_untagged_images_default_bridge_and_no_new_privileges(risky):
    assert "sshd (created): runs /usr/sbin/sshd" in evidence(risky["5.7"])
    assert "image busybox: untagged (latest)" in evidence(risky["5.28"])
    assert "on the default bridge docker0" in evidence(risky["5.30"])
    # stock dockerd: every container recorded no-new-privileges false, read from its config.v2.json
    assert "no-new-privileges not set" in evidence(risky["5.26"])
    assert "not readable" not in evidence(risky["5.26"])


def test_hardened_compliant_container_passes_every_container_check(lab):
    results = audit(lab, "hardened")
    assert [r.check.id for r in results.values() if r.status == FAIL] == []
    for check in ("4.1", "5.4", "5.7", "5.8", "5.14", "5.19", "5.26", "5.28", "5.30", "5.32", "REM-IMAGE-DIGEST"):
        assert results[check].status == PASS, (check, results[check].evidence)
    assert results["5.23"].status == INFO and "leaves no record" in evidence(results["5.23"])


def test_daemon_wide_no_new_privileges_reaches_a_container_created_after_it(lab):
    """hardened's dockerd sets no-new-privileges: a container created without the option records it (config.v2.json)
    though docker inspect's SecurityOpt is empty, and its process really runs with it."""
    host = lab.hosts["hardened"]
    host_exec(host, ["docker", "create", "--name", "nnp-from-daemon", "--network", "none", "busybox", "true"])
    try:
        opts = host_exec(host, ["docker", "inspect", "--format", "{{json .HostConfig.SecurityOpt}}", "nnp-from-daemon"])
        assert opts.stdout.decode().strip() == "null"
        result = audit(lab, "hardened")["5.26"]
        assert result.status == PASS, result.evidence
        assert "2 container(s): all set no-new-privileges" in evidence(result)
    finally:
        host_exec(host, ["docker", "rm", "-f", "nnp-from-daemon"], check=False)
