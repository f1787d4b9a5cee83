"""Round trips per host for every contestant, counted the same way: by the lab's delaying relay.

The relay in front of each lab host (remediate/lab/relay.py) appends a JSON line when a connection
opens and one, with its turns (the round trips the client waited for), when it closes. The bench
notes where each host's log ends before a run and, after it, adds up what the run's connections
cost, waiting until every connection the run opened is closed (a contestant's last packets are
still delayed when it exits). Only labs with latency run the relay: at 0 ms there is nothing to count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SETTLE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Tally:
    connections: int
    turns: int
    open: int  # connections opened in the window and not closed (yet)


def tally(lines: Iterable[str]) -> Tally:
    """Add up the connections opened in these log lines (a close without its open belongs to an earlier run)."""
    opened: set[str] = set()
    closed: dict[str, int] = {}
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry["event"] == "open":
            opened.add(entry["id"])
        elif entry["event"] == "close":
            closed[entry["id"]] = entry["turns"]
    mine = {i: t for i, t in closed.items() if i in opened}
    return Tally(len(mine), sum(mine.values()), len(opened - mine.keys()))


class TurnLogs:
    """The relay logs of the lab hosts a fleet aliases."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def mark(self) -> dict[Path, int]:
        return {p: p.stat().st_size if p.exists() else 0 for p in self.paths}

    def since(self, marks: dict[Path, int], timeout: float = SETTLE_TIMEOUT) -> Tally:
        """What the connections opened after `marks` cost, once they are all closed (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for p in self.paths for line in _read_from(p, marks.get(p, 0))]
            found = tally(lines)
            if not found.open or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _read_from(path: Path, offset: int) -> list[str]:
    if not path.exists():
        return []
    with open(path, "rb") as log:
        log.seek(offset)
        data = log.read()
    # A line still being written has no newline yet: leave it for the next look.
    return data[: data.rfind(b"\n") + 1].decode().splitlines()
