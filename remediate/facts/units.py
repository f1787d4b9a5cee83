"""systemd unit files as the facts hold them: KEY=VALUE lines with their file, line and section."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from remediate.facts import parse

# Where a unit file line sits: the file, its 1-based line, section, key and value.
_SECTION = re.compile(r"\[([^\]]+)\]\s*$")


@dataclass(frozen=True)
class UnitLine:
    path: str
    line: int
    section: str
    key: str
    value: str


def unit_lines(path: str, text: str) -> list[UnitLine]:
    """KEY=VALUE lines of a systemd unit file with their sections; comments skipped, continuations joined."""
    return list(_unit_lines(path, text))


@lru_cache(maxsize=256)
def _unit_lines(path: str, text: str) -> tuple[UnitLine, ...]:
    """unit_lines, parsed once per file text: the dockerd model, the planner and its simulation read the same
    few unit files a dozen times per host, and most hosts of a fleet have the same ones."""
    out: list[UnitLine] = []
    section = ""
    lines = parse.lines(text)  # systemd splits at \n only
    i = 0
    while i < len(lines):
        start = i
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1)
            continue
        while line.endswith("\\") and i < len(lines):
            nxt = lines[i].strip()
            i += 1
            if nxt and nxt[0] in "#;":
                continue
            line = line[:-1] + " " + nxt
        key, sep, value = line.partition("=")
        if sep:
            out.append(UnitLine(path, start + 1, section, key.strip(), value.strip()))
    return tuple(out)


def exec_start(facts, paths: list[str]) -> list[str] | None:
    """ExecStart= lines as the unit files write them (quoting intact; an empty one resets), or None when a
    file could not be read. systemctl show joins argv[] without quotes, so it cannot tell `"a b"` from `a b`."""
    commands: list[str] = []
    for path in paths:
        text = facts.file(path).text()
        if text is None:
            return None
        for line in unit_lines(path, text):
            if line.section == "Service" and line.key == "ExecStart":
                commands = [] if line.value == "" else [*commands, line.value]
    return commands or None
