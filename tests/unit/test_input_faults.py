"""The pure halves of tests/lab/test_faults_input.py: facts shaped like the lab's hostile hosts (masked units,
no systemctl, dockerd removed but its init script left, odd daemon.json files) give a clear audit result and a
plan that refuses or changes only what it names."""

from __future__ import annotations

from remediate import checks
from remediate.audit import audit_host
from remediate.facts.model import FileFact
from remediate.plan import plan_host
from tests.facts_builder import stock
from tests.plan_fixtures import policy

DAEMON_JSON = "/etc/docker/daemon.json"
SOCKET_UNIT = "/etc/systemd/system/docker.socket"
SYSV_EXEC = ("{ path=/etc/init.d/docker ; argv[]=/etc/init.d/docker start ; ignore_errors=no ; start_time=[n/a] ; "
             "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")


def result(facts, check_id: str):
    audit = audit_host(facts, policy(), checks.select(), facts.host)
    return next(r for r in audit.results if r.check.id == check_id)


def masked_socket():
    """`systemctl mask docker.socket` while dockerd runs: the unit file is a link to /dev/null (0666)."""
    facts = stock().socket(LoadState="masked", FragmentPath=SOCKET_UNIT, UnitFileState="masked").build()
    facts.files[SOCKET_UNIT] = FileFact(SOCKET_UNIT, "symlink", mode=0o666, uid=0, gid=0, owner="root",
                                        group="root", link_target="/dev/null", content=b"")
    return facts


def test_a_masked_socket_is_refused_and_its_dev_null_link_never_chmodded():
    facts = masked_socket()
    plan = plan_host(facts, policy())
    assert plan.refused and "docker.socket is masked" in plan.refused and "unmask" in plan.refused
    assert result(facts, "3.4").status != "fail"  # /dev/null's mode is not the unit's
    running = result(facts, "REM-RUNNING")
    assert running.status == "fail" and any("docker.socket is masked" in e for e in running.evidence)


def test_a_masked_service_is_refused():
    facts = stock().service(LoadState="masked", ActiveState="inactive").build()
    plan = plan_host(facts, policy())
    assert plan.refused and "docker.service is masked" in plan.refused


def test_without_systemctl_harden_refuses_and_audit_says_why_the_state_is_unknown():
    facts = stock().command("service", "", rc=127).command("socket", "", rc=127).build()
    plan = plan_host(facts, policy())
    assert plan.refused and "systemctl was not found" in plan.refused
    running = result(facts, "REM-RUNNING")
    assert running.status == "not-applicable" and "systemctl was not found" in running.evidence[0]


def test_dockerd_removed_with_its_init_script_left_is_not_installed():
    # `apt remove docker.io` keeps the conffile /etc/init.d/docker; systemd generates docker.service from it.
    facts = (stock().command("dockerd_version", "", rc=127)
             .service(ExecStart=SYSV_EXEC, FragmentPath="/run/systemd/generator.late/docker.service",
                      ActiveState="inactive").build())
    plan = plan_host(facts, policy())
    assert plan.empty and not plan.refused and "not installed" in plan.notes[0]
    assert result(facts, "2.2").status == "not-applicable"


def test_a_symlinked_drop_in_is_never_chmodded_through():
    dropin = "/etc/systemd/system/docker.service.d/limits.conf"
    facts = stock().service(DropInPaths=dropin).build()
    facts.files[dropin] = FileFact(dropin, "symlink", mode=0o666, uid=0, gid=0, owner="root", group="root",
                                   link_target="/srv/shared/limits.conf", content=b"[Service]\nLimitNOFILE=1024\n")
    assert result(facts, "3.2").status == "fail"
    plan = plan_host(facts, policy())
    assert not plan.refused and all(c.path != dropin for c in plan.changes)
    assert "3.2" in plan.still_failing
