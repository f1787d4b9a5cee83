"""Container checks on live hosts: what dockerd really records and runs, seeded to fail (risky-containers) and
to pass (hardened's compliant container)."""

from __future__ import annotations

import pytest

from remediate import app
from remediate.checks.model import FAIL, INFO, PASS, WARN
from remediate.lab.host import host_exec

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

CONTAINER_CHECKS = "containers"
RESTART = "systemctl reset-failed docker && systemctl restart docker"  # earlier tests may have spent the start limit


def audit(lab, host: str) -> dict:
    target = app.Target(hosts=host, inventory=str(lab.inventory_path), known_hosts=[])
    _, outcomes = app.run_audit(target, app.AuditOptions(only=CONTAINER_CHECKS, show_passed=True))
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


def test_ulimit_override_live_exec_and_unpinned_images_are_reported_not_failed(risky):
    assert risky["5.19"].status == INFO
    assert "publish-all (running): nofile=2048:4096 (overrides the default ulimit: needed?)" in evidence(risky["5.19"])
    for check in ("5.23", "5.24"):
        assert risky[check].status == INFO
        assert "ssh-inside (running): 1 exec session(s) dockerd still tracks" in evidence(risky[check])
    assert risky["REM-IMAGE-DIGEST"].status == WARN  # advisory in the default policy
    assert "sock-mount (running): image busybox not pinned by digest" in evidence(risky["REM-IMAGE-DIGEST"])


def test_sshd_untagged_images_default_bridge_and_no_new_privileges(risky):
    assert "sshd (created): runs /usr/sbin/sshd" in evidence(risky["5.7"])
    assert "ssh-inside (running): process sshd (pid " in evidence(risky["5.7"])  # started by its shell
    assert "host-namespaces" not in evidence(risky["5.7"])  # the lab host's own sshd is in no container
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


def test_a_container_created_before_daemon_wide_no_new_privileges_runs_without_it(lab):
    """Issue 14 item 3: dockerd applies its no-new-privileges only to containers created after it; a container
    created before keeps running without it (NoNewPrivs 0 in /proc), and 5.26 fails it while passing a newer one."""
    host = lab.hosts["stock"]
    run = lambda *argv, check=True: host_exec(host, list(argv), check=check, timeout=120)  # noqa: E731
    run("docker", "run", "-d", "--name", "before-nnp", "--network", "none", "busybox", "sleep", "1000000000")
    try:
        run(
            "sh",
            "-c",
            "printf '{\"no-new-privileges\": true}\\n' > /etc/docker/daemon.json && " + RESTART,
        )
        run("docker", "start", "before-nnp")
        run("docker", "run", "-d", "--name", "after-nnp", "--network", "none", "busybox", "sleep", "1000000000")
        status = run("sh", "-c", "grep NoNewPrivs /proc/$(docker inspect -f '{{.State.Pid}}' before-nnp)/status")
        assert status.stdout.decode().split() == ["NoNewPrivs:", "0"]
        result = audit(lab, "stock")["5.26"]
        assert result.status == FAIL
        assert "before-nnp (running): no-new-privileges not set (created before the daemon-wide setting" in evidence(
            result
        )
        assert "after-nnp" not in evidence(result)
    finally:
        run("docker", "rm", "-f", "before-nnp", "after-nnp", check=False)
        run(
            "sh",
            "-c",
            "rm -f /etc/docker/daemon.json && " + RESTART,
            check=False,
        )
