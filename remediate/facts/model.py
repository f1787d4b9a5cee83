"""HostFacts: everything remediate knows about one host, gathered once per run.

Facts are plain data that round-trip through JSON, so tests run on facts
captured from lab hosts and reports embed them. What the probes printed is kept
as printed (the saved format) and parsed once, by remediate.facts.typed, into
`parsed`: the typed values everything downstream reads. File contents are kept as
bytes (exact, whatever their encoding) and stored in JSON as base64.
Container environments are never gathered, and key material (probes.is_key_material)
has metadata only, so neither can leak from here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from remediate.facts.probes import is_key_material
from remediate.facts.typed import Parsed, parse_commands, reparse

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileFact:
    """One path on the host: what it is, who owns it, its mode and (for regular files we read) its bytes."""

    path: str
    kind: str  # file | dir | symlink | socket | other | missing | error
    mode: int | None = None  # permission bits incl. setuid/sticky (st_mode & 0o7777)
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    link_target: str | None = None
    content: bytes | None = None  # None for key material (never read), dirs, sockets, unreadable files
    error: str | None = None
    mtime: int | None = None
    dev: int | None = None  # st_dev and st_ino of what the path resolves to, as gathered
    ino: int | None = None

    @property
    def exists(self) -> bool:
        return self.kind not in ("missing", "error")

    @property
    def inode(self) -> str | None:
        """ "DEV:INO" (decimal): which file this is; a file replaced since (new inode) is another one."""
        return None if self.dev is None or self.ino is None else f"{self.dev}:{self.ino}"

    def text(self) -> str | None:
        return None if self.content is None else self.content.decode("utf-8", errors="replace")

    def mode_octal(self) -> str:
        return "-" if self.mode is None else f"{self.mode:04o}"

    def to_json(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.content is not None:
            data["content"] = base64.b64encode(self.content).decode()
        return data

    @classmethod
    def from_json(cls, data: dict) -> FileFact:
        """Also reads facts saved before key material was stat-only: their key bytes are dropped."""
        data = dict(data)
        if "content" in data:
            data["content"] = base64.b64decode(data["content"])
            if is_key_material(data["path"]):
                del data["content"]
        return cls(**data)


@dataclass(frozen=True)
class CommandFact:
    """A command's outcome on the host. rc 127 means the tool is not installed."""

    rc: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def missing(self) -> bool:
        return self.rc == 127


@dataclass
class HostFacts:
    """The facts of one host. `files` and `commands` are keyed by path and probe name; `parsed` is the
    commands' output typed (remediate.facts.typed)."""

    host: str
    files: dict[str, FileFact] = field(default_factory=dict)
    commands: dict[str, CommandFact] = field(default_factory=dict)
    round_trips: int = 0
    # the commands `parsed` was parsed from (or was set for), and the typed values
    _parsed: tuple[dict[str, CommandFact], Parsed] | None = field(default=None, repr=False, compare=False)
    # values derived from the files and typed facts (derived()), and the files and typed facts they came from
    _derived: tuple[dict[str, FileFact], Parsed, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def file(self, path: str) -> FileFact:
        return self.files.get(path) or FileFact(path=path, kind="missing")

    def command(self, name: str) -> CommandFact:
        return self.commands.get(name) or CommandFact(rc=127, stdout="", stderr="not gathered")

    @property
    def parsed(self) -> Parsed:
        """The typed facts, parsed once; a command changed since (a test's edit) is parsed again, alone."""
        if self._parsed is None:
            self._parsed = (dict(self.commands), parse_commands(self.command))
        seen, value = self._parsed
        if seen != self.commands:
            changed = {name for name in seen.keys() | self.commands.keys() if seen.get(name) != self.commands.get(name)}
            self._parsed = (dict(self.commands), reparse(value, self.command, changed))
        return self._parsed[1]

    @parsed.setter
    def parsed(self, value: Parsed) -> None:
        """Typed values that no command printed (the plan's simulation, remediate.plan.simulate)."""
        self._parsed = (dict(self.commands), value)

    def derived(self, name: str, build: Callable[[HostFacts], Any]) -> Any:
        """`build(self)`, built once while the files and typed facts stay as they are: the effective dockerd
        configuration is read by the checks, the planner and validation of one host. Any file written or typed
        fact replaced since (a simulation, a test's edit) makes every derived value be built again."""
        parsed = self.parsed
        if self._derived is None or self._derived[1] is not parsed or self._derived[0] != self.files:
            self._derived = (dict(self.files), parsed, {})
        values = self._derived[2]
        if name not in values:
            values[name] = build(self)
        return values[name]

    def forget_derived(self) -> None:
        """Drop the derived values once a host's work is done: a fleet keeps every host's facts until the run
        ends (results, apply), and their derived values would stay with them. Asked again, they are rebuilt."""
        self._derived = None

    def copy(self) -> HostFacts:
        """An independent copy (file and typed facts are frozen: shared; derived values are not copied)."""
        return HostFacts(self.host, dict(self.files), dict(self.commands), self.round_trips, self._parsed)

    def to_json(self) -> dict:
        return {
            "format": FORMAT_VERSION,
            "host": self.host,
            "round_trips": self.round_trips,
            "files": {p: f.to_json() for p, f in sorted(self.files.items())},
            "commands": {n: asdict(c) for n, c in sorted(self.commands.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> HostFacts:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported facts format {data.get('format')!r}")
        facts = cls(
            host=data["host"],
            round_trips=data.get("round_trips", 0),
            files={p: FileFact.from_json(f) for p, f in data["files"].items()},
            commands={n: CommandFact(**c) for n, c in data["commands"].items()},
        )
        facts.parsed  # noqa: B018 (parsed on load, with the parsers gather uses)
        return facts

    def save(self, path: Path) -> None:
        """Private to the user (0600), atomically, never through a link planted at the path."""
        from remediate.private_files import write_private

        write_private(path, json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> HostFacts:
        return cls.from_json(json.loads(path.read_text()))


FILE_FIELDS = {f.name for f in fields(FileFact)}
