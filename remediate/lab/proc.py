"""Processes the lab starts and later stops, identified safely.

A PID alone can be reused by an unrelated process after ours died, so the lab
records (pid, start time) and only ever signals a process whose start time
still matches. The lab never looks processes up by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from remediate.process import start_time


@dataclass(frozen=True)
class ProcessRef:
    """A process started by the lab: its PID and kernel start time (clock ticks since boot)."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        start = start_time(pid)
        if start is None:
            raise ProcessLookupError(pid)
        return cls(pid, start)

    def alive(self) -> bool:
        return start_time(self.pid) == self.start_time

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process if it is still the one we started."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait_gone(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def to_json(self) -> dict:
        return asdict(self)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def spawn_daemon(argv: list[str], log_path: Path) -> ProcessRef:
    """Start a long-lived process detached from our session, output to a log file."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return ProcessRef.of(proc.pid)
