"""The apply lock and the transaction script's own steps, on this machine (a temp directory as BASE and as the
files' home): who holds the lock and whether it is stale, busy runs, prepare cut short, abort of a run that
never committed, and the test hook that pauses a run."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from remediate import checks, output
from remediate.apply.engine import controller_identity
from remediate.apply.protocol import PAUSE_ENV, Entry, entry_words, pause_args
from remediate.apply.rollback import LockState, controller_gone
from remediate.apply.validation import Validation
from remediate.audit import audit_host
from remediate.facts.model import CommandFact
from remediate.harden import HostHarden
from remediate.plan import plan_host
from remediate.plan.simulate import copy_facts
from remediate.process import machine_ids, start_time
from remediate.runner import HostOutcome
from tests.plan_fixtures import load, policy
from tests.unit.conftest import RUN


def holder(identity: str) -> str:
    return f"run {RUN} by {identity} boot=b since=2026-11-28T12:00:00Z"


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_the_controller_of_a_lock_is_gone_only_when_it_ran_here_and_its_process_ended():
    me = socket.gethostname()
    assert not controller_gone(holder(controller_identity()))
    assert controller_gone(holder(f"root@{me} pid {dead_pid()} start 1"))
    # The pid lives on, but as a process started later than the controller: reused, so the controller is gone.
    assert controller_gone(holder(f"root@{me} pid {os.getpid()} start {start_time(os.getpid()) - 1}"))
    assert not controller_gone(holder(f"root@{me} pid {os.getpid()}"))  # an older lock without a start time
    assert not controller_gone(holder(f"root@not-{me} pid {dead_pid()} start 1"))  # another machine: unknown
    assert not controller_gone("run x by a teammate")


def test_a_namesake_machine_is_never_judged_from_here_and_a_reboot_here_ends_every_controller():
    """Two controllers can share a hostname (CI runners, containers); the machine id tells them apart."""
    me, (machine, boot) = socket.gethostname(), machine_ids()
    if machine == "unknown":
        pytest.skip("this machine has no /etc/machine-id")
    ids = f"machine {machine} boot-id {boot}"
    assert controller_identity().endswith(ids)
    assert controller_gone(holder(f"root@{me} pid {dead_pid()} start 1 {ids}"))
    assert not controller_gone(holder(f"root@{me} pid {os.getpid()} start {start_time(os.getpid())} {ids}"))
    # the same hostname on another machine: its pids mean nothing here, dead-looking or not
    other = f"machine {'0' * 32} boot-id {boot}"
    assert not controller_gone(holder(f"root@{me} pid {dead_pid()} start 1 {other}"))
    # this machine, an earlier boot: every process of that boot is gone, even one whose pid is alive now
    rebooted = f"machine {machine} boot-id 00000000-0000-0000-0000-000000000000"
    assert controller_gone(holder(f"root@{me} pid {os.getpid()} start {start_time(os.getpid())} {rebooted}"))


def test_machine_ids_are_read_or_unknown(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "machine-id").write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    assert machine_ids(tmp_path) == ("3d1219c7c4c5404aaa1f6d2a48adfda4", "unknown")
    (tmp_path / "etc" / "machine-id").write_text("not an id; rm -rf /\n")
    assert machine_ids(tmp_path)[0] == "unknown"


@pytest.mark.parametrize(
    "boot_matches, run_state, busy, gone, stale",
    [
        (True, None, None, False, False),  # may be alive: unlock needs --force
        (True, "applied", None, False, False),  # its controller may be verifying right now
        (True, "verified", None, False, True),  # ended
        (True, "committed", None, True, True),  # controller gone, nothing left running on the host
        (True, "committed", "4242", True, False),  # controller gone, but the host still finishes the commit
        (True, "verified", "4242", False, False),  # whatever the state says, a step of it still runs
        (False, "committed", "4242", False, True),  # the host rebooted: nothing of the run can be running
    ],
)
def test_a_lock_is_stale_once_nothing_of_its_run_can_still_be_running(boot_matches, run_state, busy, gone, stale):
    identity = f"root@{socket.gethostname()} pid {dead_pid()} start 1" if gone else controller_identity()
    state = LockState(True, RUN, holder(identity), boot_matches, run_state, busy)
    assert state.stale is stale
    assert state.why_stale() if stale else state.why_alive()


def test_a_plan_says_who_holds_the_lock_and_how_to_clear_it(capsys):
    facts = copy_facts(load("hardened"))
    facts.commands["apply_lock"] = CommandFact(0, holder("root@ops1 pid 4242 start 77") + "\n")
    value = HostHarden(
        audit_host(facts, policy(), checks.select(), "hardened"), plan_host(facts, policy()), Validation(True, [])
    )
    assert value.lock == holder("root@ops1 pid 4242 start 77") and value.to_json()["lock"] == value.lock
    output.plan_report([HostOutcome("hardened", "ok", value)])
    assert f"locked by run {RUN} by root@ops1 pid 4242" in capsys.readouterr().out
    assert "invoke unlock" in output.LOCK_NOTE
    facts.commands["apply_lock"] = CommandFact(0, "")  # no lock: the probe prints nothing
    assert (
        HostHarden(audit_host(facts, policy(), checks.select(), "hardened"), value.plan, value.validation).lock is None
    )


def test_the_pause_hook_comes_only_from_the_controllers_environment(monkeypatch):
    monkeypatch.delenv(PAUSE_ENV, raising=False)
    assert pause_args() == []
    monkeypatch.setenv(PAUSE_ENV, "renamed")
    assert pause_args() == ["--pause=renamed"]
    monkeypatch.setenv(PAUSE_ENV, "renamed; reboot")
    with pytest.raises(ValueError, match="not one of"):
        pause_args()


# --- the script, run here on files in a temp directory -------------------------------------------------------


def entries(home, *contents: bytes) -> list[Entry]:
    return [
        Entry(str(home / "etc" / f"file{i}"), "write", "absent", "-", "-", "-", "root", "root", "644", content, i)
        for i, content in enumerate(contents, start=1)
    ]


def prepare(tx, items: list[Entry], stdin: bytes | None = None):
    manifest = b'{"entries": []}\n'
    data = manifest + b"".join(e.content or b"" for e in items if e.op == "write") if stdin is None else stdin
    return tx.call("prepare", str(len(manifest)), *entry_words(items), stdin=data)


def leftovers(home) -> list[str]:
    return sorted(p.name for p in (home / "etc").rglob("*")) if (home / "etc").exists() else []


def test_no_lock_and_nothing_touched_without_a_usable_backups_directory(tx, home):
    (home / "base").write_text("a file where the backups directory should be\n")
    reply = tx.call("lock", "run by a test")
    assert not reply.ok and "the backups directory" in reply.error() and "Not a directory" in reply.error()
    assert (home / "base").read_text() == "a file where the backups directory should be\n"


def test_a_prepare_whose_input_is_cut_short_leaves_nothing_behind(tx, home):
    (home / "etc").mkdir()
    items = entries(home, b"first\n", b"second file\n")
    assert tx.call("lock", "run by a test").ok
    reply = prepare(tx, items, stdin=b'{"entries": []}\n' + b"first\nsec")  # the connection dropped mid-write
    assert not reply.ok and "does not hold the planned bytes" in reply.error()
    assert leftovers(home) == [] and not (home / "base" / "runs" / RUN).exists()


def test_a_running_step_marks_the_lock_busy_and_an_ended_one_does_not(tx, home):
    assert tx.call("lock", "run by a test").ok
    busy = home / "base" / "lock" / "busy"
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        busy.write_text(f"{sleeper.pid} {start_time(sleeper.pid)}\n")
        assert tx.call("lock-info").first("busy").detail == str(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert tx.call("lock-info").first("busy") is None
    assert prepare(tx, entries(home, b"x\n")).ok and not busy.exists()  # its own mark goes when it ends


def test_abort_removes_what_a_prepared_run_staged_and_says_so(tx, home):
    items = entries(home, b"first\n", b"second\n")
    assert tx.call("lock", "run by a test").ok
    assert prepare(tx, items).ok
    staged = [f"{home}/etc/{name}" for name in leftovers(home)]
    assert [os.path.basename(p)[:-10] for p in staged] == [".file1.remediate-", ".file2.remediate-"]
    reply = tx.call("abort", *entry_words(items))
    assert reply.ok and sorted(line.detail for line in reply.lines if line.step == "unstaged") == staged
    assert not (home / "etc").exists()  # the directory the run created goes too
    assert not (home / "base" / "runs" / RUN).exists()


def test_abort_refuses_a_run_that_committed(tx, home):
    items = entries(home, b"first\n")
    assert tx.call("lock", "run by a test").ok and prepare(tx, items).ok
    (home / "base" / "runs" / RUN / "state").write_text("committed\n")
    reply = tx.call("abort", *entry_words(items))
    assert not reply.ok and "only a run that was not committed" in reply.error()
    assert [name[:-10] for name in leftovers(home)] == [".file1.remediate-"]
