"""Run one piece of work on many hosts in parallel; one bad host never stops the fleet.

A Fleet (like fabric's Group) is built once per run from the target: its hosts, connect options, forks and the
resolver of jump hosts; Fleet.run(work) is how every task works on its hosts. Each host gets its own connection
(opened once, closed at the end); every outcome, success or failure, is collected like fabric's GroupResult and
reported, and progress is announced as hosts finish.

Every host has a deadline for its whole work (options.limits.host_timeout): a
watchdog closes the host's connection when it passes, which makes whatever
call is blocked on that host fail, and the host ends `failed` with what it was
being waited for. Its work runs on a thread of its own, so even work that
does not stop after the close is left behind (THREAD_GRACE later) rather than
waited for: the rest of the fleet, the recap and the report never wait on it.

Read-only runs may spread the hosts over worker processes (Fleet.processes): parsing, checks and planning then use
more than the one core a Python process gets. Each worker is forked (the work closure is inherited, never
pickled), runs the same thread pool over its slice of the hosts and sends each outcome back pickled as it ends, so
progress still comes host by host and each host still has its one connection. Apply keeps one process: its
Ctrl-C handling and --max-fail need the rollout's state in one place.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from remediate.connection import Connection, ConnectOptions, connect
from remediate.errors import ConnectionFailed, RemediateError

OK, UNREACHABLE, FAILED = "ok", "unreachable", "failed"
NOT_STARTED = "not started: the run was interrupted"  # the error of a host a stopped run never began
THREAD_GRACE = 30.0  # seconds a host's work may take to end once the watchdog closed its connection


@dataclass
class HostOutcome:
    host: str
    status: str
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    round_trips: int = 0
    entry: Any = None  # its results-document entry, once settled (results.settle)

    @property
    def ok(self) -> bool:
        return self.status == OK


Work = Callable[[Connection, Any], Any]
Progress = Callable[[int, int, HostOutcome], None]
Settle = Callable[[HostOutcome], HostOutcome]


@dataclass(frozen=True)
class Fleet:
    """The hosts of one run and how to reach them, built once from the target; run() works on every host."""

    hosts: Sequence[Any]
    options: ConnectOptions
    forks: int = 10
    resolve_host: Callable[[str], Any] | None = None
    processes: int = 1  # worker processes for read-only work (1: threads of this process only)

    def run(
        self,
        work: Work,
        *,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        settle: Settle | None = None,
    ) -> list[HostOutcome]:
        """`work(connection, host)` on every host; outcomes in host order, one per host whatever happened.

        `settle` turns each outcome into what the run keeps of it, as soon as the host ends (in its worker
        process, so less crosses back): a big fleet then holds a few KB a host, not its facts."""
        # What exists now (modules, catalogue, inventory, policies) lives for the whole run: frozen, it is no longer
        # scanned by every full garbage collection the hosts' work triggers (2-4 ms a host in a profile).
        gc.freeze()
        workers = min(self.processes, len(self.hosts))
        if workers > 1 and stop is None:
            return _run_processes(self, work, progress, workers, settle)
        return run_fleet(
            self.hosts,
            work,
            self.options,
            forks=self.forks,
            resolve_host=self.resolve_host,
            progress=progress,
            stop=stop,
            settle=settle,
        )

    def only(self, names: Sequence[str]) -> Fleet:
        """The same fleet restricted to these hosts (a rollout batch), in the order given."""
        by_name = {h.name: h for h in self.hosts}
        return replace(self, hosts=[by_name[n] for n in names])

    def reaching_with(self, options: ConnectOptions) -> Fleet:
        """The same hosts reached with other options (apply's longer deadlines)."""
        return replace(self, options=options)


def auto_processes(hosts: int, forks: int, cpus: int | None = None) -> int:
    """How many worker processes `--processes auto` uses: one per core, at most one per `forks` hosts (a run
    that fits in one pool of --forks threads gains nothing from a second process)."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(cpus, hosts // max(1, forks)))


def run_fleet(
    hosts: Sequence[Any],
    work: Work,
    options: ConnectOptions,
    *,
    forks: int = 10,
    resolve_host: Callable[[str], Any] | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    settle: Settle | None = None,
) -> list[HostOutcome]:
    """Run `work(connection, host)` on every host, at most `forks` at once; outcomes in host order."""
    done = 0
    lock = threading.Lock()

    def one(host) -> HostOutcome:
        nonlocal done
        outcome = _run_one(host, work, options, resolve_host, stop)
        if settle is not None:
            outcome = _settled(outcome, settle)
        with lock:
            done += 1
            if progress:
                progress(done, len(hosts), outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts)))) as pool:
        return list(pool.map(one, hosts))


def _settled(outcome: HostOutcome, settle: Settle) -> HostOutcome:
    try:
        return settle(outcome)
    except Exception as exc:  # a bug in what is kept of a host fails that host, not the run
        error = f"internal error: {type(exc).__name__}: {exc}"
        return settle(HostOutcome(outcome.host, FAILED, None, error, outcome.seconds, outcome.round_trips))


def _run_processes(
    fleet: Fleet, work: Work, progress: Progress | None, workers: int, settle: Settle | None
) -> list[HostOutcome]:
    """The hosts dealt round-robin to `workers` forked processes, each with its share of the forks."""
    context = multiprocessing.get_context("fork")
    inbox = context.Queue()
    slices = [list(range(n, len(fleet.hosts), workers)) for n in range(workers)]
    forks = max(1, -(-fleet.forks // workers))
    procs = [
        context.Process(target=_worker, args=(fleet, work, indexes, forks, inbox, settle), name=f"remediate worker {n}")
        for n, indexes in enumerate(slices)
    ]
    outcomes: dict[int, HostOutcome] = {}
    started: list = []
    try:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a Ctrl-C during a fork is not lost
        try:
            for proc in procs:
                proc.start()
                started.append(proc)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        while len(outcomes) < len(fleet.hosts):
            try:
                index, data = inbox.get(timeout=0.5)
            except queue.Empty:
                if all(not p.is_alive() for p in procs) and inbox.empty():
                    break
                continue
            outcomes[index] = pickle.loads(data)
            if progress:
                progress(len(outcomes), len(fleet.hosts), outcomes[index])
    except BaseException:  # Ctrl-C (the workers ignore it) or a bug here: no worker outlives the run
        for proc in started:
            proc.kill()
        raise
    finally:
        for proc in started:
            proc.join(THREAD_GRACE)
            if proc.is_alive():
                proc.kill()
                proc.join()
    lost = {i: p for p, indexes in zip(procs, slices, strict=True) for i in indexes if i not in outcomes}
    for index, proc in lost.items():
        host = fleet.hosts[index].name
        outcomes[index] = HostOutcome(host, FAILED, error=f"internal error: worker process exited ({proc.exitcode})")
        if progress:
            progress(len(outcomes), len(fleet.hosts), outcomes[index])
    return [outcomes[i] for i in range(len(fleet.hosts))]


def _worker(fleet: Fleet, work: Work, indexes: list[int], forks: int, outbox, settle: Settle | None) -> None:
    """In a forked process: the thread pool over this slice; each outcome goes back pickled as soon as it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    position = {fleet.hosts[i].name: i for i in indexes}

    def send(done: int, total: int, outcome: HostOutcome) -> None:
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # a value that cannot cross processes fails its host, not the run
            error = f"internal error: result not picklable: {type(exc).__name__}: {exc}"
            data = pickle.dumps(HostOutcome(outcome.host, FAILED, None, error, outcome.seconds, outcome.round_trips))
        outbox.put((position[outcome.host], data))

    hosts = [fleet.hosts[i] for i in indexes]
    run_fleet(hosts, work, fleet.options, forks=forks, resolve_host=fleet.resolve_host, progress=send, settle=settle)


def _run_one(host, work: Work, options: ConnectOptions, resolve_host, stop) -> HostOutcome:
    started = time.monotonic()
    if stop is not None and stop.is_set():
        return HostOutcome(host.name, FAILED, error=NOT_STARTED)
    job = _HostJob(host, work, options, resolve_host)
    thread = threading.Thread(target=job.run, name=f"remediate host {host.name}", daemon=True)
    thread.start()
    thread.join(options.limits.host_timeout)
    if thread.is_alive():
        job.expire(options.limits.host_timeout)
        thread.join(THREAD_GRACE)
    return job.outcome(time.monotonic() - started)


class _HostJob:
    """One host's connection and work, on its own thread; `expire` (the watchdog) may come from another."""

    def __init__(self, host, work: Work, options: ConnectOptions, resolve_host):
        self.host, self.work, self.options, self.resolve_host = host, work, options, resolve_host
        self.conn: Connection | None = None
        self.expired: str | None = None  # the watchdog's error, once it fired
        self.result: tuple[str, Any, str | None] | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            conn = connect(self.host, self.options, self.resolve_host)
            with self._lock:
                self.conn = conn
            if self.expired:  # the deadline passed while connecting
                conn.close()
            self._finish(OK, self.work(conn, self.host), None)
        except ConnectionFailed as exc:
            self._finish(UNREACHABLE, None, str(exc))
        except RemediateError as exc:
            self._finish(FAILED, None, str(exc))
        except Exception as exc:
            self._finish(FAILED, None, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if self.conn is not None:
                self.conn.close()

    def _finish(self, status: str, value: Any, error: str | None) -> None:
        with self._lock:
            self.result = status, value, error

    def expire(self, timeout: float) -> None:
        """The host's deadline passed: say what it was waiting for, then close its connection."""
        with self._lock:
            if self.result is not None:  # the work ended just in time; only the close was left
                return
            conn = self.conn
            what = conn.activity() if conn is not None else "the connection to be opened"
            self.expired = f"{self.host.name}: no answer within {timeout:g}s while waiting for: {what}"
        if conn is not None:
            conn.close()

    def outcome(self, seconds: float) -> HostOutcome:
        round_trips = self.conn.round_trips if self.conn is not None else 0
        if self.expired:
            return HostOutcome(self.host.name, FAILED, None, self.expired, seconds, round_trips)
        status, value, error = self.result or (FAILED, None, "internal error: the host's work ended without a result")
        return HostOutcome(self.host.name, status, value, error, seconds, round_trips)
