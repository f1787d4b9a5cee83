"""A host cannot stall the fleet or fill the controller's memory (issue 12, items 3 and 4).

Against fake SSH servers on 127.0.0.1 (tests/fake_ssh.py) with strict host-key checking on: one that never
answers an exec request, one that streams output without end, one that answers. Deadlines here are a few
seconds; the bounds asserted on elapsed time are generous: the old code waited forever (or 200 s).
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from remediate import app, runner
from remediate.apply.engine import apply_connect_options
from remediate.apply.protocol import Transaction
from remediate.connection import Limits
from remediate.connection.base import COMMAND_TIMEOUT, HOST_TIMEOUT, MAX_COMMAND_OUTPUT, MAX_HOST_OUTPUT, MiB
from remediate.connection.batch import READ_LIMIT
from remediate.connection.local import LocalConnection
from remediate.errors import CommandTimeout, ConnectionFailed, OutputTooLarge
from remediate.runner import FAILED, OK, run_fleet
from tests.fake_ssh import FakeSSHServer

BOUND = 30  # seconds: far above every deadline used here, far below "forever"
KiB = 1024


def echo(command: str):
    return command.encode() + b"\n", b"", 0


@pytest.fixture
def hung(tmp_path):
    with FakeSSHServer(tmp_path, "hang", name="hung") as server:
        yield server


@pytest.fixture
def good(tmp_path):
    with FakeSSHServer(tmp_path, "answer", reply=echo, name="good") as server:
        yield server


def local_host(name: str = "here") -> SimpleNamespace:
    return SimpleNamespace(name=name, groups=(), vars={"ansible_connection": "local"})


# --- item 3: every call has a deadline --------------------------------------------------------------------


def test_the_fake_server_runs_commands_with_stdin_and_exit_status(tmp_path):
    seen = []

    def reply(command):
        seen.append(command)
        return b"out", b"err", 3

    with FakeSSHServer(tmp_path, reply=reply) as server, server.connect() as conn:
        result = conn.run(["printf", "%s", "a b"], stdin=b"data" * 100_000)
        assert (result.rc, result.stdout, result.stderr) == (3, b"out", b"err")
        assert seen == ["printf %s 'a b'"] and conn.round_trips == 1 and conn.output_received == 6


def test_an_exec_request_never_answered_times_out_naming_what_it_waited_for(hung):
    with hung.connect() as conn:
        started = time.monotonic()
        with pytest.raises(
            CommandTimeout,
            match=r"hung: echo hi timed out after 2s waiting for "
            r"the SSH server to answer the exec request",
        ):
            conn.run(["echo", "hi"], timeout=2)
        assert time.monotonic() - started < BOUND
    assert hung.commands == ["echo hi"]


def test_a_call_that_names_no_deadline_gets_the_connections_default(hung):
    """Transaction.call passes no timeout (lock, finish, check, abort, break-lock): it waited forever."""
    assert 0 < COMMAND_TIMEOUT <= 300
    with hung.connect(Limits(command_timeout=2)) as conn:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"timed out after 2s waiting for the SSH server to answer"):
            Transaction(conn, "20260101T000000Z-abcdef", become=False).call("lock", "run by test")
        assert time.monotonic() - started < BOUND
    assert " lock " in hung.commands[0]


def test_a_local_command_that_never_ends_gets_the_default_deadline(tmp_path):
    """A FIFO at a path we read blocks the reader forever (it hung `unlock`); now the deadline ends it."""
    fifo = tmp_path / "owner"
    os.mkfifo(fifo)
    conn = LocalConnection("box", limits=Limits(command_timeout=1))
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"box: cat .*owner timed out after 1s waiting for the command's output"):
        conn.run(["cat", str(fifo)])
    assert time.monotonic() - started < BOUND


def test_closing_a_local_connection_ends_its_command_at_once():
    conn = LocalConnection("box")
    threading.Timer(0.5, conn.close).start()
    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match="box: the connection was closed during a command"):
        conn.run(["sleep", "600"])
    assert time.monotonic() - started < BOUND
    with pytest.raises(ConnectionFailed, match="box: the connection is closed"):
        conn.run(["true"])


def test_one_hung_host_fails_with_what_it_waited_for_and_the_fleet_finishes(hung, good):
    hosts = [hung.host(), good.host(), local_host()]
    started = time.monotonic()
    outcomes = run_fleet(
        hosts,
        lambda conn, host: conn.run(["echo", "hi"]).stdout,
        FakeSSHServer.options(Limits(host_timeout=2)),
        forks=3,
    )
    assert time.monotonic() - started < BOUND
    by_name = {o.host: o for o in outcomes}
    assert (by_name["good"].status, by_name["good"].value) == (OK, b"echo hi\n")
    assert (by_name["here"].status, by_name["here"].value) == (OK, b"hi\n")
    stuck = by_name["hung"]
    assert stuck.status == FAILED and stuck.value is None and stuck.round_trips == 1
    assert stuck.error.startswith(
        "hung: no answer within 2s while waiting for: echo hi "
        "(the SSH server to answer the exec request, running for 2s)"
    )


def test_a_local_host_stuck_in_a_command_is_failed_by_its_deadline():
    started = time.monotonic()
    [outcome] = run_fleet(
        [local_host("stuck")],
        lambda conn, host: conn.run(["sleep", "600"]),
        FakeSSHServer.options(Limits(host_timeout=1)),
    )
    assert time.monotonic() - started < BOUND
    assert outcome.status == FAILED
    assert outcome.error.startswith(
        "stuck: no answer within 1s while waiting for: sleep 600 (the command's output and exit status, running for 1s)"
    )


def test_work_stuck_on_the_controller_side_is_named_too_and_left_behind(monkeypatch):
    """Work that does not end when its connection closes is not waited for past the grace period."""
    monkeypatch.setattr(runner, "THREAD_GRACE", 0.5)
    release = threading.Event()

    def work(conn, host):
        conn.run(["true"])
        release.wait(BOUND)

    started = time.monotonic()
    try:
        [outcome] = run_fleet([local_host("slow")], work, FakeSSHServer.options(Limits(host_timeout=1)))
    finally:
        release.set()
    assert time.monotonic() - started < BOUND
    assert outcome.status == FAILED
    assert outcome.error == (
        "slow: no answer within 1s while waiting for: the controller, between commands (the last one: true)"
    )


def test_audit_still_writes_its_recap_and_results_when_a_host_hangs(hung, tmp_path, capsys, monkeypatch):
    inventory = tmp_path / "inventory.yml"
    hung_vars = hung.host().vars
    inventory.write_text(json.dumps({"all": {"hosts": {"hung": hung_vars, "here": {"ansible_connection": "local"}}}}))
    target = app.Target(hosts="all", inventory=str(inventory), inventories_dir=tmp_path, known_hosts=[])
    monkeypatch.setattr(target, "connect_options", lambda: FakeSSHServer.options(Limits(host_timeout=6)))
    started = time.monotonic()
    code = app.audit(target, app.AuditOptions(json_path=tmp_path / "audit.json", report_dir=tmp_path / "reports"))
    assert time.monotonic() - started < BOUND + 30
    assert code == app.EXIT_ERROR
    hosts = {h["host"]: h for h in json.loads((tmp_path / "audit.json").read_text())["hosts"]}
    assert hosts["here"]["status"] == OK
    assert hosts["hung"]["status"] == FAILED
    assert hosts["hung"]["error"].startswith("hung: no answer within 6s while waiting for: sh -c <script>")
    assert "the SSH server to answer the exec request" in hosts["hung"]["error"]
    recap = capsys.readouterr().out
    assert "== hung: FAILED  hung: no answer within 6s" in recap and "\nhung  failed" in recap
    # every report too, a host without dockerd (here) among them
    assert "hung: no answer within 6s" in (tmp_path / "reports" / "report.html").read_text()
    assert {p.name for p in (tmp_path / "reports").iterdir()} == {
        "report.html",
        "report.md",
        "results.json",
        "junit.xml",
        "results.sarif",
    }


def test_the_default_host_deadline_leaves_room_for_a_whole_apply():
    restart_timeout = 90  # ApplyOptions' default
    commit = restore = 4 * restart_timeout + 60
    assert commit + restore + 2 * 120 <= HOST_TIMEOUT  # and two gathers besides


# --- item 4: the controller keeps a bounded amount of a host's output --------------------------------------


def test_a_flood_is_cut_at_the_command_cap_and_memory_stays_bounded(tmp_path):
    cap = 1 * MiB
    with (
        FakeSSHServer(tmp_path, "flood", name="flood") as server,
        server.connect(Limits(command_output=cap, host_output=8 * cap)) as conn,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(
                OutputTooLarge,
                match=r"flood: sent more than 1 MiB of output for one command; "
                r"stopped reading \(command: yes\)",
            ):
                conn.run(["yes"], timeout=60)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert conn.output_received <= cap  # what the controller kept: never a byte past the cap
        assert peak < 16 * MiB  # the cap, a copy of it, paramiko's 2 MiB window, and slack; unbounded before


def test_a_flood_that_would_end_is_still_refused_past_the_cap(tmp_path):
    """The flood stops at 4 MiB, so the old code returned all of it (and would for 512 MiB)."""
    with (
        FakeSSHServer(tmp_path, "flood", flood_bytes=4 * MiB, name="flood") as server,
        server.connect(Limits(command_output=1 * MiB)) as conn,
    ):
        with pytest.raises(OutputTooLarge, match="more than 1 MiB of output for one command"):
            conn.run(["cat", "big"])
        assert conn.output_received <= 1 * MiB


def test_the_host_cap_counts_every_command_of_the_connection(tmp_path):
    size = 400 * KiB

    def reply(command):
        return (b"o" * (size // 2), b"e" * (size // 2), 0) if command.startswith("big") else (b"", b"", 0)

    with (
        FakeSSHServer(tmp_path, reply=reply, name="chatty") as server,
        server.connect(Limits(command_output=1 * MiB, host_output=1 * MiB)) as conn,
    ):
        for _ in range(2):
            assert len(conn.run(["big"]).stdout) == size // 2
        assert conn.output_received == 2 * size
        with pytest.raises(
            OutputTooLarge,
            match=r"chatty: sent more than 1 MiB of output over this connection; "
            r"stopped reading \(command: big\)",
        ):
            conn.run(["big"])
        assert conn.run(["quiet"]).rc == 0  # a command with nothing to say still runs
        with pytest.raises(OutputTooLarge, match="over this connection"):
            conn.run(["big"])  # but the host has used up what the controller accepts from it


def test_a_local_flood_is_cut_at_the_cap_and_the_command_killed():
    conn = LocalConnection("box", limits=Limits(command_output=256 * KiB))
    started = time.monotonic()
    with pytest.raises(OutputTooLarge, match="box: sent more than 256 KiB of output for one command"):
        conn.run(["sh", "-c", "yes & yes >&2; wait"])
    assert time.monotonic() - started < BOUND and conn.output_received <= 256 * KiB


def test_a_flooded_host_is_failed_with_the_reason_and_the_fleet_finishes(tmp_path, good):
    with FakeSSHServer(tmp_path, "flood", name="flood") as flood:
        outcomes = run_fleet(
            [flood.host(), good.host()],
            lambda conn, host: conn.run(["probe"]).stdout,
            FakeSSHServer.options(Limits(command_output=2 * MiB)),
        )
    assert [(o.host, o.status) for o in outcomes] == [("flood", FAILED), ("good", OK)]
    assert outcomes[0].error == (
        "flood: sent more than 2 MiB of output for one command; stopped reading (command: probe)"
    )


def test_the_caps_leave_room_for_a_normal_gather():
    """A normal host's gather batch is well under 1 MiB; even three files cut at READ_LIMIT fit one command."""
    assert (32 * MiB, 64 * MiB) == (MAX_COMMAND_OUTPUT, MAX_HOST_OUTPUT)
    assert 3 * (READ_LIMIT + 1) < MAX_COMMAND_OUTPUT < MAX_HOST_OUTPUT


def test_an_apply_with_a_long_restart_timeout_gets_a_host_deadline_that_fits_it():
    options = FakeSSHServer.options(Limits())
    assert apply_connect_options(options, 90) is options  # the default already fits
    longer = apply_connect_options(options, 600)
    assert longer.limits.host_timeout >= 2 * (4 * 600 + 60) + 2 * 120 and options.limits.host_timeout == HOST_TIMEOUT
