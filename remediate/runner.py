"""Run one piece of work on many hosts in parallel; one bad host never stops the fleet.

Each host gets its own connection (opened once, closed at the end); every
outcome, success or failure, is collected like fabric's GroupResult and
reported, and progress is announced as hosts finish.

Every host has a deadline for its whole work (options.limits.host_timeout): a
watchdog closes the host's connection when it passes, which makes whatever
call is blocked on that host fail, and the host ends `failed` with what it was
being waited for. Its work runs on a thread of its own, so even work that
does not stop after the close is left behind (THREAD_GRACE later) rather than
waited for: the rest of the fleet, the recap and the report never wait on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

    @property
    def ok(self) -> bool:
        return self.status == OK


Work = Callable[[Connection, Any], Any]
Progress = Callable[[int, int, HostOutcome], None]


def run_fleet(
    hosts: Sequence[Any],
    work: Work,
    options: ConnectOptions,
    *,
    forks: int = 10,
    resolve_host: Callable[[str], Any] | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[HostOutcome]:
    """Run `work(connection, host)` on every host, at most `forks` at once; outcomes in host order."""
    done = 0
    lock = threading.Lock()

    def one(host) -> HostOutcome:
        nonlocal done
        outcome = _run_one(host, work, options, resolve_host, stop)
        with lock:
            done += 1
            if progress:
                progress(done, len(hosts), outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts)))) as pool:
        return list(pool.map(one, hosts))


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
