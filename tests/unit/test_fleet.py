"""The Fleet (remediate/runner.py): built once per run, the same outcomes whether its hosts run on threads of one
process or are spread over worker processes; one bad host, or one dead worker, never stops the rest."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from remediate import app
from remediate.connection import ConnectOptions
from remediate.facts.model import HostFacts
from remediate.facts.summary import DockerSummary, summarize
from remediate.report import documents
from remediate.runner import FAILED, OK, Fleet, auto_processes
from remediate.target import Target


def local_hosts(*names: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(name=n, groups=(), vars={"ansible_connection": "local"}) for n in names]


def fleet(names, processes: int = 1, forks: int = 4) -> Fleet:
    return Fleet(local_hosts(*names), ConnectOptions(known_hosts=[]), forks=forks, processes=processes)


def echo_pid(conn, host):
    """Each host's work really runs a command over its connection, and says which process ran it."""
    return conn.run(["echo", host.name]).stdout.decode().strip(), os.getpid()


NAMES = [f"h{n}" for n in range(7)]


@pytest.mark.parametrize("processes", [1, 3])
def test_outcomes_come_in_host_order_with_progress_for_each_host(processes):
    seen = []
    outcomes = fleet(NAMES, processes).run(echo_pid, progress=lambda done, total, o: seen.append((done, total, o.host)))
    assert [o.host for o in outcomes] == NAMES
    assert all(o.status == OK and o.value[0] == o.host and o.round_trips == 1 for o in outcomes)
    assert [(done, total) for done, total, _ in seen] == [(n, 7) for n in range(1, 8)]
    assert sorted(host for _, _, host in seen) == NAMES
    pids = {o.value[1] for o in outcomes}
    assert pids == {os.getpid()} if processes == 1 else (len(pids) == 3 and os.getpid() not in pids)


def test_a_failing_host_or_a_value_that_cannot_cross_processes_fails_alone():
    def work(conn, host):
        if host.name == "h1":
            raise RuntimeError("boom")
        if host.name == "h2":
            return threading.Lock()  # cannot be pickled back to the parent
        return echo_pid(conn, host)

    outcomes = fleet(NAMES, processes=2).run(work)
    by_name = {o.host: o for o in outcomes}
    assert by_name["h1"].status == FAILED and by_name["h1"].error == "internal error: RuntimeError: boom"
    assert by_name["h2"].status == FAILED and by_name["h2"].error.startswith("internal error: result not picklable")
    assert all(by_name[n].status == OK for n in NAMES if n not in ("h1", "h2"))


def test_a_worker_that_dies_fails_its_unfinished_hosts_and_the_others_finish():
    def work(conn, host):
        if host.name == "h0":
            os._exit(7)  # the whole worker process goes, with h0 and whatever of its slice had not ended
        return echo_pid(conn, host)

    outcomes = fleet(NAMES, processes=2, forks=2).run(work)
    by_name = {o.host: o for o in outcomes}
    assert by_name["h0"].status == FAILED and by_name["h0"].error == "internal error: worker process exited (7)"
    # Hosts are dealt round-robin: h1, h3, h5 are the other worker's, which carries on.
    assert all(by_name[n].status == OK for n in ("h1", "h3", "h5"))
    assert len(outcomes) == len(NAMES)


@pytest.mark.parametrize("processes", [1, 2])
def test_each_outcome_is_settled_as_its_host_ends_and_a_settle_that_fails_fails_its_host_alone(processes):
    def settle(outcome):
        if outcome.host == "h3" and outcome.ok:
            raise RuntimeError("cannot keep it")
        return replace(outcome, value=("settled", os.getpid()), entry=f"entry of {outcome.host}")

    outcomes = fleet(NAMES, processes).run(echo_pid, settle=settle)
    assert [o.entry for o in outcomes] == [f"entry of {n}" for n in NAMES]
    failed = outcomes[3]
    assert failed.status == FAILED and failed.error == "internal error: RuntimeError: cannot keep it"
    settled_in = {o.value[1] for o in outcomes if o.ok}
    assert all(o.value[0] == "settled" for o in outcomes if o.ok)
    assert settled_in == {os.getpid()} if processes == 1 else os.getpid() not in settled_in  # in the worker


def test_only_and_reaching_with_keep_the_rest_of_the_fleet():
    base = fleet(NAMES, processes=3, forks=5)
    batch = base.only(["h4", "h2"])
    assert [h.name for h in batch.hosts] == ["h4", "h2"] and (batch.forks, batch.processes) == (5, 3)
    options = ConnectOptions(known_hosts=[], connect_timeout=99)
    assert base.reaching_with(options).options is options and base.reaching_with(options).hosts == base.hosts


def test_a_stoppable_run_keeps_one_process():
    """Apply's rollout passes a stop event (Ctrl-C): its hosts stay on this process's threads."""
    outcomes = fleet(NAMES, processes=3).run(echo_pid, stop=threading.Event())
    assert {o.value[1] for o in outcomes} == {os.getpid()}


@pytest.mark.parametrize(
    ("hosts", "forks", "cpus", "wanted"),
    [(5, 10, 8, 1), (20, 10, 8, 2), (200, 10, 8, 8), (200, 50, 8, 4), (200, 10, 1, 1), (0, 10, 4, 1)],
)
def test_auto_processes_gives_each_core_a_full_pool(hosts, forks, cpus, wanted):
    assert auto_processes(hosts, forks, cpus) == wanted


def test_only_read_only_runs_use_processes(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n" + "".join(f"    {n}:\n      ansible_port: 1\n" for n in NAMES))
    target = Target(hosts="all", inventory=str(inventory), known_hosts=[], processes=None, forks=2)
    assert target.fleet(read_only=True)[1].processes == auto_processes(7, 2)
    assert target.fleet()[1].processes == 1


def test_an_audit_over_processes_equals_one_over_threads(tmp_path):
    """The real audit work (facts, checks) on local hosts: its results pickle and come back unchanged."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n" + "".join(f"    {n}:\n      ansible_connection: local\n" for n in NAMES[:4])
    )
    docs = []
    for processes in (1, 2):
        target = Target(hosts="all", inventory=str(inventory), known_hosts=[], processes=processes)
        doc, outcomes = app.run_audit(target, app.AuditOptions())
        assert [o.status for o in outcomes] == [OK] * 4
        docs.append(documents.without_run_identity(doc.to_json()))
    assert docs[0] == docs[1]


def test_ctrl_c_in_a_run_over_processes_leaves_no_worker_behind():
    """The workers ignore SIGINT; the parent's KeyboardInterrupt kills them before it goes up."""
    # As at a terminal: a test run started in the background (CI, `cmd &`) inherits SIGINT ignored, and Python
    # then never turns it into KeyboardInterrupt.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def work(conn, host):
        if host.name == "h0":
            os.kill(os.getppid(), signal.SIGINT)  # possibly while the parent still forks the other worker
        time.sleep(60)

    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            fleet(NAMES, processes=2).run(work)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 30  # not a speed check: the workers sleep 60 s unless they are killed
    assert multiprocessing.active_children() == []


def test_the_facts_task_saves_each_hosts_facts_and_keeps_only_their_summary(tmp_path, capsys):
    """Local hosts (this controller): --save writes each host's facts as it ends; the run keeps a summary line."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n" + "".join(f"    {n}:\n      ansible_connection: local\n" for n in NAMES[:3])
    )
    target = Target(hosts="all", inventory=str(inventory), known_hosts=[], processes=2)
    outcomes = app.collect_facts(target, tmp_path / "saved", keep=summarize)
    assert [o.status for o in outcomes] == [OK] * 3 and all(isinstance(o.value, DockerSummary) for o in outcomes)
    for o in outcomes:
        assert summarize(HostFacts.load(tmp_path / "saved" / f"{o.host}.json")) == o.value
    assert app.show_facts(target) == app.EXIT_OK
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES[:3]), out
