"""Why docker.service is down, in dockerd's own words, from the tail of its journal.

dockerd prints its fatal error on stderr as one line ("unable to configure the
Docker daemon with file ...: ...", "failed to start daemon: ...", a pflag
error) or, in some paths, as a logrus `level=fatal msg="..."`. systemd's own
lines (start limit hit, exit status) are the fallback when dockerd said nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOCKERD = [
    re.compile(r'level=fatal msg="((?:[^"\\]|\\.)*)"'),
    re.compile(r"(unable to configure the Docker daemon with file .*)$"),
    re.compile(r"(failed to start daemon: .*)$"),
    re.compile(r"(Error starting daemon: .*)$"),
    re.compile(r'("dockerd" accepts no argument\(s\)\.)'),
    re.compile(r"((?:unknown flag|unknown shorthand flag|flag needs an argument|bad flag syntax): .*)$"),
    re.compile(r"(invalid argument .* flag: .*)$"),
]
_SYSTEMD = [
    re.compile(r"(Start request repeated too quickly\.?)"),
    re.compile(r"(Main process exited, code=.*)$"),
    re.compile(r"(Failed to start .*)$"),
]


@dataclass(frozen=True)
class DownReason:
    state: str
    message: str | None  # dockerd's error, or systemd's when dockerd logged none
    line: str | None  # the journal line it was taken from

    def to_dict(self) -> dict:
        return {"state": self.state, "message": self.message, "line": self.line}


def _latest(lines: list[str], patterns: list[re.Pattern]) -> tuple[str, str] | None:
    for line in reversed(lines):
        for pattern in patterns:
            match = pattern.search(line)
            if match:
                return re.sub(r"\\(.)", r"\1", match.group(1)) if "msg=" in match.group(0) else match.group(1), line
    return None


def down_reason(active_state: str, journal: tuple[str, ...]) -> DownReason | None:
    """None while docker.service is active; otherwise its state and the error that stopped it (`journal`: the
    journal's last lines, as the facts parsed them)."""
    if active_state == "active":
        return None
    lines = list(journal)
    found = _latest(lines, _DOCKERD) or _latest(lines, _SYSTEMD)
    return DownReason(active_state, *found) if found else DownReason(active_state, None, None)
