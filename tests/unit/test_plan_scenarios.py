"""Whole plans on the captured lab scenarios: what harden would do, and that a second run does nothing."""

from __future__ import annotations

import json

import pytest

from remediate import checks
from remediate.apply.engine import script_actions
from remediate.audit import audit_host
from remediate.checks.model import FAIL
from remediate.plan import apply_plan, plan_host
from remediate.plan.auditd_rules import RULES_PATH
from tests.plan_fixtures import (
    SCENARIOS,
    load,
    policy,
    with_command,
    with_daemon_json,
    with_file,
    with_info,
    with_version,
)

DAEMON_JSON = "/etc/docker/daemon.json"
RISK = {"default": frozenset(), "accepted": frozenset({"userns-remap"})}


def daemon_json(p) -> dict:
    change = p.change(DAEMON_JSON)
    return json.loads(change.after) if change else {}


def failing_fixable(facts) -> set[str]:
    audit = audit_host(facts, policy(), checks.select(), facts.host)
    return {r.check.id for r in audit.results if r.status == FAIL and r.check.fixable}


def test_hardened_host_gets_an_empty_plan():
    p = plan_host(load("hardened"), policy())
    assert p.empty and not p.refused and not p.held_back and p.still_failing == ()


@pytest.mark.parametrize("risk", sorted(RISK))
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_second_run_plans_nothing(scenario, risk):
    facts = load(scenario)
    first = plan_host(facts, policy(), accept_risk=RISK[risk], repair_json=True)
    assert not first.refused
    after = apply_plan(facts, first)
    second = plan_host(after, policy(), accept_risk=RISK[risk], repair_json=True)
    assert second.empty and not second.refused, [c.path for c in second.changes] + second.action_kinds()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_after_the_plan_only_held_back_checks_still_fail(scenario):
    facts = load(scenario)
    held = plan_host(facts, policy(), repair_json=True)
    accepted = plan_host(facts, policy(), accept_risk={"userns-remap"}, repair_json=True)
    assert failing_fixable(apply_plan(facts, accepted)) == set() == set(accepted.still_failing)
    expected = set() if scenario == "hardened" else {"2.9"}
    assert failing_fixable(apply_plan(facts, held)) == expected == set(held.still_failing)


def test_every_change_names_the_failing_checks_it_fixes():
    for scenario in SCENARIOS:
        facts = load(scenario)
        p = plan_host(facts, policy(), accept_risk={"userns-remap"}, repair_json=True)
        before = failing_fixable(facts)
        assert set(p.fixes()) <= before
        assert before - set(p.fixes()) <= {"REM-CONFIG"}  # broken-json: fixed by the repair as a whole


def test_risky_containers_hold_userns_remap_back_and_name_the_containers():
    p = plan_host(load("risky-containers"), policy())
    assert [h.what for h in p.held_back] == ["userns-remap"]
    held = p.held_back[0]
    assert "--accept-risk userns-remap" in held.how_to_accept and "8 container(s)" in held.reason
    assert "userns-remap" not in daemon_json(p) and p.change("/etc/subuid") is None
    names = " ".join(i.message for i in p.impacts if i.kind == "userns-host-needed")
    assert "host-namespaces (network=host, pid=host)" in names and "privileged (privileged)" in names
    # live-restore is not active and 3 containers run: it is enabled by a reload before the restart
    assert p.action_kinds() == ["reload-docker", "restart-docker"]


def test_risky_containers_with_accepted_risk_plan_userns_remap_and_its_ranges():
    p = plan_host(load("risky-containers"), policy(), accept_risk={"userns-remap"})
    assert not p.held_back and daemon_json(p)["userns-remap"] == "default"
    for path in ("/etc/subuid", "/etc/subgid"):
        change = p.change(path)
        assert change.after == change.before + b"dockremap:165536:65536\n"
    impacts = {i.kind: i for i in p.impacts}
    assert (
        impacts["userns-remap"].severity == "high"
        and "1 image(s) and 8 container(s)" in impacts["userns-remap"].message
    )
    assert "unmanaged" in impacts["restart"].message  # no live-restore trick when the data root moves
    # harden adds dockremap itself (a rollback removes it), and carries the verification image across
    assert p.action_kinds() == ["add-remap-user", "save-images", "restart-docker", "load-images"]
    assert [a.images for a in p.actions if a.images] == [("busybox:latest",), ("busybox:latest",)]
    carried = plan_host(load("risky-containers"), policy(), accept_risk={"userns-remap"}, carry_images=True)
    assert [a.images for a in carried.actions if a.images] == [("*",), ("*",)]  # --carry-images: every one
    assert script_actions(carried) == (
        "add-remap-user:dockremap,save-images:*,restart-docker:docker.socket+docker.service,load-images"
    )


def test_strict_policy_holds_nothing_back():
    p = plan_host(load("stock"), policy(remediate_profile="strict"))
    assert not p.held_back and daemon_json(p)["userns-remap"] == "default"


def test_broken_json_is_refused_with_line_and_column_and_left_untouched():
    p = plan_host(load("broken-json"), policy())
    assert p.refused.startswith("/etc/docker/daemon.json:3:1: unexpected '}'") and "trailing comma" in p.refused
    assert "trailing comma" in p.refused and "repair_json" in p.refused
    assert p.empty and not p.changes


def test_broken_json_repair_keeps_a_copy_and_says_what_is_lost():
    facts = load("broken-json")
    p = plan_host(facts, policy(), repair_json=True)
    original = facts.file(DAEMON_JSON).content
    backup = next(c for c in p.changes if ".remediate-broken-" in c.path)
    assert backup.creates and backup.after == original
    assert daemon_json(p)["log-level"] == "info" and p.change(DAEMON_JSON).before == original
    assert any("keys seen in it: log-level" in n and backup.path in n for n in p.notes)
    assert p.action_kinds()[0] == "reset-failed" and "restart-docker" in p.action_kinds()


def test_directory_in_place_of_daemon_json_is_refused_even_with_repair():
    facts = load("stock")
    facts.files[DAEMON_JSON] = facts.file("/etc/docker")
    p = plan_host(facts, policy(), repair_json=True)
    assert p.refused and "not a regular file" in p.refused


def test_plan_is_valid_json_and_stable_bytes():
    for scenario in SCENARIOS:
        a = plan_host(load(scenario), policy(), repair_json=True).dumps()
        b = plan_host(load(scenario), policy(), repair_json=True).dumps()
        assert a == b
        data = json.loads(a)
        assert {"changes", "actions", "impacts", "held_back", "refused", "notes"} <= data.keys()
        assert all(c["diff"].startswith("diff --git a/") for c in data["changes"])


def test_old_release_never_gets_seccomp_builtin():
    facts = with_daemon_json(
        load("hardened"), {**json.loads(load("hardened").file(DAEMON_JSON).content), "seccomp-profile": "builtin"}
    )
    p = plan_host(facts, policy())
    assert "seccomp-profile" not in daemon_json(p) and "REM-CONFIG" in p.change(DAEMON_JSON).fixes
    modern = plan_host(with_version(facts, "24.0.7"), policy())
    assert modern.change(DAEMON_JSON) is None


def test_only_reloadable_changes_are_reloaded_not_restarted():
    hardened = json.loads(load("hardened").file(DAEMON_JSON).content)
    p = plan_host(with_daemon_json(load("hardened"), {**hardened, "debug": True}), policy())
    assert p.action_kinds() == ["reload-docker"] and "debug" not in daemon_json(p)


def test_unknown_key_blocks_the_restart():
    facts = with_daemon_json(load("stock"), {"log-levle": "info"})
    p = plan_host(facts, policy())
    assert p.refused and "log-levle" in p.refused and "/etc/docker/daemon.json:2" in p.refused


@pytest.mark.parametrize("state", ["active", "locked", "pending", "error"])
def test_swarm_node_never_gets_live_restore(state):
    """Issue 14: an autolocked manager after a restart is `locked`, a joining node `pending`: swarm all the same."""
    facts = with_info(load("stock"), Swarm={"LocalNodeState": state, "NodeID": "x"})
    for accept in (frozenset(), {"live-restore", "userns-remap"}):
        p = plan_host(facts, policy(), accept_risk=accept)
        assert "live-restore" not in daemon_json(p)
        entry = next(h for h in p.held_back if h.what == "live-restore")
        assert "swarm" in entry.reason and "docker swarm leave" in entry.how_to_accept


def test_ip_forward_off_while_dockerd_runs_defeats_docker_networking():
    p = plan_host(with_command(load("stock"), "ip_forward", "0\n"), policy())
    impact = next(i for i in p.impacts if i.kind == "ip-forward")
    assert impact.severity == "high" and "whatever harden writes" in impact.message


def test_restart_without_live_restore_warns_about_running_containers():
    p = plan_host(load("risky-containers"), policy(remediate_policy={"daemon": {"live-restore": None}}))
    impact = next(i for i in p.impacts if i.kind == "restart")
    assert impact.severity == "high" and "stops the 6 running container(s)" in impact.message
    assert p.action_kinds() == ["restart-docker"]


def test_audit_rules_are_appended_to_an_existing_file_and_loaded_when_auditd_runs():
    facts = with_file(load("stock"), RULES_PATH, b"# mine\n-w /usr/sbin/dockerd -k docker", mode=0o600)
    facts = with_command(facts, "auditctl", "-w /usr/sbin/dockerd -p rwxa -k docker\n")
    p = plan_host(facts, policy())
    change = p.change(RULES_PATH)
    assert change.after.startswith(b"# mine\n-w /usr/sbin/dockerd -k docker\n-w /")
    assert change.after.count(b"/usr/sbin/dockerd") == 1 and change.mode == 0o600
    assert "load-audit-rules" in p.action_kinds() and "1.1.6" in change.fixes


def test_audit_rules_without_auditd_are_written_not_loaded():
    p = plan_host(load("stock"), policy())
    assert p.change(RULES_PATH).creates and p.change(RULES_PATH).mode == 0o640
    assert "load-audit-rules" not in p.action_kinds()
    assert b"-w /etc/docker/daemon.json -k docker\n" in p.change(RULES_PATH).after  # the plan creates it


def test_subid_range_starts_after_the_highest_existing_one():
    facts = with_file(load("stock"), "/etc/subuid", b"ops:100000:65536\nci:300000:100000")
    p = plan_host(facts, policy(), accept_risk={"userns-remap"})
    assert p.change("/etc/subuid").after == b"ops:100000:65536\nci:300000:100000\ndockremap:400000:65536\n"
    assert p.change("/etc/subgid").after.endswith(b"dockremap:400000:65536\n")


def test_waived_check_leaves_its_key_alone():
    waiver = {"check": "2.2", "hosts": "*", "reason": "legacy links", "expires": "2099-01-01"}
    p = plan_host(load("stock"), policy(remediate_waivers=[waiver]))
    assert "icc" not in daemon_json(p) and any("waived" in n for n in p.notes)


def test_host_without_docker_plans_nothing():
    facts = with_command(with_command(load("stock"), "dockerd_version", "", rc=127), "service", "LoadState=not-found\n")
    p = plan_host(facts, policy())
    assert p.empty and not p.refused and "not installed" in p.notes[0]


def test_containerd_socket_is_chmodded_with_a_warning_that_it_is_recreated():
    facts = load("stock")
    sock = facts.file("/run/containerd/containerd.sock")
    facts.files[sock.path] = type(sock)(**{**sock.__dict__, "mode": 0o666})
    change = plan_host(facts, policy()).change(sock.path)
    assert change.kind == "socket" and change.mode == 0o660 and "3.24" in change.fixes and "recreates" in change.reason
