"""The pure parts of apply and rollout, on captured facts: entries, actions, validation, verification, batches."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from remediate.apply.engine import script_actions
from remediate.apply.protocol import Entry, entries_for, entry_for, entry_words, parse_reply
from remediate.apply.validation import USERNS_NOT_VALIDATED, validation_spec
from remediate.apply.verify import verify_applied
from remediate.connection.base import CommandResult
from remediate.errors import UsageError
from remediate.facts.model import CommandFact, FileFact
from remediate.harden import batches
from remediate.plan import plan_host
from remediate.plan.model import Action, FileChange, Plan
from remediate.plan.simulate import apply_plan, copy_facts
from tests.plan_fixtures import load, policy


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_entries_carry_before_and_after_hashes_and_modes():
    write = FileChange(
        "/etc/docker/daemon.json",
        b"{}\n",
        b'{"icc": false}\n',
        "root",
        "root",
        0o644,
        old_mode=0o666,
        old_owner="root",
        old_group="root",
    )
    create = FileChange("/etc/audit/rules.d/docker.rules", None, b"-w /etc/docker -k docker\n", "root", "root", 0o640)
    chmod = FileChange(
        "/etc/docker",
        None,
        None,
        "root",
        "root",
        0o755,
        old_mode=0o777,
        old_owner="root",
        old_group="root",
        kind="directory",
    )
    a, b, c = entries_for([write, create, chmod])
    assert (a.op, a.before_sha, a.before_mode, a.mode, a.after_sha) == (
        "write",
        sha(b"{}\n"),
        "666",
        "644",
        sha(b'{"icc": false}\n'),
    )
    assert (b.op, b.before_sha, b.before_mode, b.before_owner, b.index) == ("write", "absent", "-", "-", 2)
    assert (c.op, c.before_sha, c.before_mode, c.mode, c.after_sha) == ("meta", "-", "777", "755", "-")
    words = entry_words([a, b, c])
    assert len(words) == 39 and words[9] == str(len(b'{"icc": false}\n')) and words[11] == "1"


def test_entry_round_trips_through_the_manifest_and_undo_expects_the_written_state():
    change = FileChange(
        "/etc/default/docker",
        b"DOCKER_OPTS=-H tcp://0.0.0.0:2375\n",
        b"\n",
        "root",
        "root",
        0o644,
        old_mode=0o644,
        old_owner="root",
        old_group="root",
    )
    entry = entry_for(change, 3)
    again = Entry.from_json(entry.to_json())
    assert again.after_sha == sha(b"\n") and again.content is None
    now = again.expected_now()
    assert (now.before_sha, now.before_mode, now.before_owner) == (sha(b"\n"), "644", "root")
    restore = again.restore_words()
    assert restore[2] == sha(b"DOCKER_OPTS=-H tcp://0.0.0.0:2375\n") and restore[9:12] == ["0", "-", "3"]


def test_deleting_entry_expects_absence_before_undo():
    entry = entry_for(
        FileChange("/etc/x", b"old", None, "root", "root", 0o644, old_mode=0o644, old_owner="root", old_group="root"), 1
    )
    assert entry.op == "delete" and entry.after_sha == "absent"
    assert entry.expected_now().before_sha == "absent"


def test_replies_are_read_line_by_line():
    reply = parse_reply(CommandResult(75, b"locked 20261128T000000Z-abcdef run by a teammate boot=x\nbootid y\n", b""))
    assert not reply.ok and reply.first("locked").detail.startswith("20261128T000000Z-abcdef")
    failed = parse_reply(CommandResult(1, b"ok lock acquired\nfail cas /etc/docker/daemon.json changed\n", b""))
    assert failed.error() == "cas: /etc/docker/daemon.json changed"


def test_script_actions_mark_the_live_restore_reload_and_whitelist_units():
    plan = Plan(
        "h",
        actions=(
            Action("reset-failed", "x"),
            Action("daemon-reload", "x"),
            Action("reload-docker", "x", ("docker.service",)),
            Action("restart-docker", "x", ("docker.socket", "docker.service", "evil; rm -rf /")),
        ),
    )
    assert script_actions(plan) == (
        "reset-failed,daemon-reload,reload-live-restore,restart-docker:docker.socket+docker.service"
    )
    only_reload = Plan("h", actions=(Action("reload-docker", "x", ("docker.service",)),))
    assert script_actions(only_reload) == "reload-docker"


def test_validation_asks_the_host_what_the_model_cannot_know():
    facts = load("stock")
    plan = plan_host(facts, policy())
    spec = validation_spec(facts, plan)
    kinds = {(p.kind, p.arg) for p in spec.probes}
    assert ("executable", "/usr/sbin/dockerd") in kinds
    assert spec.dockerd_argv is None  # dockerd 20.10 has no --validate


def test_validation_runs_dockerd_validate_with_the_service_flags_from_23():
    facts = copy_facts(load("tcp-docker-opts"))
    facts.commands["dockerd_version"] = CommandFact(0, "Docker version 24.0.7, build 311b9ff\n", "")
    plan = plan_host(facts, policy())
    spec = validation_spec(facts, plan)
    assert spec.dockerd_argv[:2] == ["/usr/sbin/dockerd", "--validate"]
    assert "--containerd=/run/containerd/containerd.sock" in spec.dockerd_argv
    assert not any("tcp://" in word for word in spec.dockerd_argv)  # the plan's flags, not the old ones
    assert spec.args()[-len(spec.dockerd_argv) - 2] == "dockerd-validate"
    assert spec.stdin() == plan.change("/etc/docker/daemon.json").after


def test_dockerd_validate_never_sees_a_userns_remap_it_would_create_the_user_and_ranges_for():
    """Seen on 26.1 and 28.5: `dockerd --validate` with userns-remap "default" writes the dockremap user and
    its ranges, which made a dry run write and the apply's compare-and-swap refuse its own plan."""
    facts = copy_facts(load("stock"))
    facts.commands["dockerd_version"] = CommandFact(0, "Docker version 26.1.5+dfsg1, build a72d7cd\n", "")
    plan = plan_host(facts, policy(), accept_risk={"userns-remap"})
    assert json.loads(plan.change("/etc/docker/daemon.json").after)["userns-remap"] == "default"
    assert plan.change("/etc/subuid") is not None  # harden writes dockremap's ranges itself
    spec = validation_spec(facts, plan)
    assert "userns-remap" not in json.loads(spec.stdin()) and spec.notes == [USERNS_NOT_VALIDATED]
    # where dockremap and its ranges are there already, dockerd validates the key itself (it writes nothing)
    facts = copy_facts(load("hardened"))
    facts.commands["dockerd_version"] = CommandFact(0, "Docker version 26.1.5+dfsg1, build a72d7cd\n", "")
    facts.files["/etc/docker/daemon.json"] = replace(
        facts.files["/etc/docker/daemon.json"],
        content=json.dumps({**json.loads(facts.files["/etc/docker/daemon.json"].content), "icc": True}).encode(),
    )
    plan = plan_host(facts, policy())
    spec = validation_spec(facts, plan)
    assert json.loads(spec.stdin())["userns-remap"] == "default" and spec.notes == []


def test_nothing_to_validate_for_an_empty_or_refused_plan():
    assert validation_spec(load("hardened"), plan_host(load("hardened"), policy())).empty
    assert validation_spec(load("broken-json"), plan_host(load("broken-json"), policy())).empty


@pytest.mark.parametrize("scenario", ["stock", "tcp-daemon-json", "loose-perms", "custom-settings"])
def test_the_predicted_state_verifies(scenario):
    facts = load(scenario)
    plan = plan_host(facts, policy())
    assert verify_applied(facts, apply_plan(facts, plan), plan, policy()) == []


def test_verification_names_what_differs_from_the_plan():
    facts = load("stock")
    plan = plan_host(facts, policy())
    after = apply_plan(facts, plan)
    after.files["/etc/docker/daemon.json"] = FileFact(
        path="/etc/docker/daemon.json",
        kind="file",
        mode=0o600,
        uid=0,
        gid=0,
        owner="root",
        group="root",
        size=3,
        content=b"{}\n",
    )
    problems = verify_applied(facts, after, plan, policy())
    assert any("does not hold the planned bytes" in p for p in problems)
    assert any("mode 0600" in p for p in problems)
    assert any(p.startswith("check 2.") for p in problems)  # icc and friends no longer pass


def test_batches_canary_first_then_sizes_or_percentages():
    names = [f"h{i}" for i in range(1, 8)]
    assert batches(names, "3", None) == [["h1", "h2", "h3"], ["h4", "h5", "h6"], ["h7"]]
    assert batches(names, "50%", "h5") == [["h5"], ["h1", "h2", "h3"], ["h4", "h6", "h7"]]
    assert batches(names, "100%", "first") == [["h1"], ["h2", "h3", "h4", "h5", "h6", "h7"]]
    assert batches(names, "1%", None)[0] == ["h1"]
    with pytest.raises(UsageError, match="canary"):
        batches(names, "1", "nope")
    with pytest.raises(UsageError, match="batch-size"):
        batches(names, "lots", None)
    with pytest.raises(UsageError, match="at least 1"):
        batches(names, "0", None)
