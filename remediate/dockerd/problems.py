"""Where a setting comes from, and the typed findings about dockerd's configuration.

Every finding carries evidence (file and line) so a report can point at the
exact place to fix, a `message` in our words, and whether the host's dockerd
release refuses to start because of it (`fatal`). dockerd's own words are not
predicted: `dockerd --validate` (23.0 and later) and the journal give them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Source:
    """A place a value was read from: a file and line, or a unit setting.

    `via` names what carried the value there: "ExecStart", a variable such as
    "DOCKER_OPTS", "ListenStream" or "running dockerd".
    """

    path: str
    line: int | None = None
    via: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where} ({self.via})" if self.via else where

    def to_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "via": self.via, "text": str(self)}


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for dataclasses, Sources, tuples and nested containers."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Problem:
    message: str
    fatal: bool
    evidence: tuple[Source, ...] = ()

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict:
        out = {"kind": self.kind}
        out.update({f.name: to_jsonable(getattr(self, f.name)) for f in fields(self)})
        return out


@dataclass(frozen=True)
class JsonSyntaxError(Problem):
    """daemon.json cannot be read as dockerd reads it (kind "SyntaxError").

    reason: syntax, empty, bom, utf8, not-object, trailing-data, too-deep or number-range.
    line/column are 1-based (column in characters); excerpt is the offending line.
    """

    reason: str = "syntax"
    line: int | None = None
    column: int | None = None
    excerpt: str | None = None

    @property
    def kind(self) -> str:
        return "SyntaxError"


@dataclass(frozen=True)
class DuplicateKey(Problem):
    """A key given twice in one object: Go keeps the last value without a word."""

    key: str = ""
    lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Conflict(Problem):
    """A directive given both as a dockerd flag and in daemon.json: dockerd refuses to start."""

    key: str = ""
    flag_value: Any = None
    file_value: Any = None


@dataclass(frozen=True)
class UnknownKey(Problem):
    key: str = ""


@dataclass(frozen=True)
class IgnoredKey(Problem):
    """Accepted by dockerd's validation, yet it sets nothing: the setting silently has no effect."""

    key: str = ""
    instead: str | None = None


@dataclass(frozen=True)
class UnsupportedForVersion(Problem):
    key: str = ""
    version: str = ""
    supported_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class WrongType(Problem):
    key: str = ""
    path: str = ""
    expected: str = ""
    got: str = ""


@dataclass(frozen=True)
class InvalidValue(Problem):
    key: str = ""
    value: Any = None


@dataclass(frozen=True)
class FlagError(Problem):
    """dockerd's command line does not parse (unknown flag, missing value, stray argument...)."""

    arg: str = ""


@dataclass(frozen=True)
class UnreadableConfig(Problem):
    """The configuration file exists but its bytes were not analysed: a directory, a special file, or too
    large or unreadable for remediate (detail: dir, other, unread)."""

    detail: str = ""


@dataclass(frozen=True)
class UnitProblem(Problem):
    """systemd reads the unit or an environment file differently from what it looks like."""

    detail: str = ""
