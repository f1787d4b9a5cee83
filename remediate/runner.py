"""Run one piece of work on many hosts in parallel; one bad host never stops the fleet.

Each host gets its own connection (opened once, closed at the end); every
outcome, success or failure, is collected like fabric's GroupResult and
reported, and progress is announced as hosts finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from remediate.connection import ConnectOptions, Connection, connect
from remediate.errors import ConnectionFailed, RemediateError

OK, UNREACHABLE, FAILED = "ok", "unreachable", "failed"
NOT_STARTED = "not started: the run was interrupted"  # the error of a host a stopped run never began


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


def run_fleet(hosts: Sequence[Any], work: Work, options: ConnectOptions, *, forks: int = 10,
              resolve_host: Callable[[str], Any] | None = None, progress: Progress | None = None,
              stop: threading.Event | None = None) -> list[HostOutcome]:
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
    conn = None
    try:
        conn = connect(host, options, resolve_host)
        value = work(conn, host)
        status, error = OK, None
    except ConnectionFailed as exc:
        status, error, value = UNREACHABLE, str(exc), None
    except RemediateError as exc:
        status, error, value = FAILED, str(exc), None
    except Exception as exc:  # noqa: BLE001 — a bug on one host is reported, not fatal to the fleet
        status, error, value = FAILED, f"internal error: {type(exc).__name__}: {exc}", None
    finally:
        if conn is not None:
            conn.close()
    return HostOutcome(host.name, status, value, error, time.monotonic() - started,
                       conn.round_trips if conn else 0)
