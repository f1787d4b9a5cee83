"""Which dockerd release we are looking at, and which daemon.json keys it accepts.

The key table (data/daemon-json-keys.tsv) has one column per release line; a
host's version picks the column of its major release, because the keys only
change between majors. An unknown version picks no column: callers then judge
by every release at once (a key is valid if any release knows it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

Version = tuple[int, int, int]

_VERSION = re.compile(r"(?:^|[^\d.])(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(text: str | None) -> Version | None:
    """(major, minor, patch) from "20.10.24+dfsg1", "5:24.0.7-1~debian.12" or `dockerd --version` output."""
    if not text:
        return None
    text = text.strip()
    text = re.sub(r"^Docker version\s+", "", text)
    match = _VERSION.search(" " + text)
    if not match:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def version_label(version: Version | None) -> str:
    return ".".join(map(str, version)) if version else "unknown"


@dataclass(frozen=True)
class KeyTable:
    """Valid daemon.json keys per release line, as measured from each release's source."""

    columns: tuple[str, ...]
    majors: tuple[int, ...]
    keys: dict[str, frozenset[int]]

    @classmethod
    @cache
    def load(cls) -> KeyTable:
        text = resources.files(__package__).joinpath("data/daemon-json-keys.tsv").read_text("utf-8")
        header, *rows = [line.split("\t") for line in text.splitlines() if line.strip()]
        columns = tuple(header[1:])
        majors = tuple((version_tuple(c) or (0,))[0] for c in columns)
        keys = {row[0]: frozenset(i for i, cell in enumerate(row[1:]) if cell.strip() == "Y") for row in rows}
        return cls(columns, majors, keys)

    def column_for(self, version: Version | None) -> int | None:
        """The newest column whose major is not above the host's; the oldest for older hosts."""
        if version is None:
            return None
        candidates = [i for i, major in enumerate(self.majors) if major <= version[0]]
        return candidates[-1] if candidates else 0

    def label(self, column: int | None) -> str | None:
        return None if column is None else self.columns[column]

    def known(self, key: str) -> bool:
        return bool(self.keys.get(key))

    def valid(self, key: str, column: int | None) -> bool:
        columns = self.keys.get(key, frozenset())
        return bool(columns) if column is None else column in columns

    def releases_with(self, key: str) -> list[str]:
        return [self.columns[i] for i in sorted(self.keys.get(key, ()))]


def at_least(version: Version | None, major: int, minor: int = 0) -> bool | None:
    """Whether the host runs major.minor or later; None when the version is unknown."""
    return None if version is None else version[:2] >= (major, minor)
