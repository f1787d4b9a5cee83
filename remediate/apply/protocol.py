"""Talking to templates/apply/transaction.sh: plan changes as entries, replies as lines.

The script does every host-side step of an apply (lock, compare-and-swap,
backup, staged temp files, commit, restore); this module turns FileChanges
into entries (each a Record of NAME=VALUE arguments) and its output into
Reply objects. Everything a host controls reaches the script as a
positional parameter.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields, replace
from functools import cache

from remediate.connection.base import CommandResult, Connection
from remediate.errors import CommandFailed
from remediate.plan.model import FileChange
from remediate.templates import TEMPLATES_DIR

BASE = "/var/lib/remediate"  # root-only: lock, and per run the manifest and backup copies
LOCKED = 75  # the script's exit code when another run holds the lock
UNITS = frozenset({"docker.socket", "docker.service"})
# Test hook: the fault tests set this in the controller's environment to make the script stop at a named
# point of a run (see the header of transaction.sh); it never comes from a host.
PAUSE_ENV = "REMEDIATE_TEST_PAUSE"
PAUSE_POINTS = re.compile(r"staged|renamed-first|renamed")


@cache
def script() -> str:
    return (TEMPLATES_DIR / "apply" / "transaction.sh").read_text()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def stat_mode(mode: int | None) -> str:
    """A mode as `stat -c %a` prints it (no leading zeros)."""
    return "-" if mode is None else f"{mode & 0o7777:o}"


@dataclass(frozen=True)
class _PathState:
    """What an entry and its record share: the path, the operation, the path as the plan found it and as it
    will be left (owner, group, mode), in the order the script reads them."""

    path: str
    op: str  # write | delete | meta
    before_sha: str  # sha256, "absent", or "-" (no content check)
    before_mode: str
    before_owner: str
    before_group: str
    owner: str
    group: str
    mode: str


@dataclass(frozen=True)
class Record(_PathState):
    """One entry as the script reads it (read_entry in transaction.sh, whose header says what each field
    means): one argument NAME=VALUE per field, in this order. An argument carries any byte but NUL, which no
    path holds, and the script takes the value as everything after the first "=", so a value is never parsed."""

    length: int  # bytes of content on prepare's stdin (0 but for a write)
    sha: str  # sha256 of that content, or "-"
    index: int
    inode: str

    def args(self) -> list[str]:
        return [f"{f.name}={getattr(self, f.name)}" for f in fields(self)]


@dataclass(frozen=True)
class Entry(_PathState):
    """One path of a run: what the plan found and wants there (record() is what the script reads of it)."""

    content: bytes | None
    index: int
    kind: str = "file"
    after_sha: str = "-"  # what the path holds once the entry is applied: sha256, "absent", or "-"
    inode: str = "-"  # DEV:INO the plan was made from; "-" unknown, absent, or not stable (a socket)

    def record(self, *, restore: bool = False) -> Record:
        """The entry as the script reads it; for `restore` without content (that is in the backup copy)."""
        write = self.op == "write" and not restore
        content = self.content or b""
        return Record(
            **{f.name: getattr(self, f.name) for f in fields(_PathState)},
            length=len(content) if write else 0,
            sha=sha256(content) if write else "-",
            index=self.index,
            inode=self.inode,
        )

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "op": self.op,
            "kind": self.kind,
            "index": self.index,
            "before_sha256": self.before_sha,
            "before_mode": self.before_mode,
            "before_owner": self.before_owner,
            "before_group": self.before_group,
            "owner": self.owner,
            "group": self.group,
            "mode": self.mode,
            "after_sha256": self.after_sha,
            "inode": self.inode,
        }

    @classmethod
    def from_json(cls, data: dict) -> Entry:
        return cls(
            path=data["path"],
            op=data["op"],
            before_sha=data["before_sha256"],
            before_mode=data["before_mode"],
            before_owner=data["before_owner"],
            before_group=data["before_group"],
            owner=data["owner"],
            group=data["group"],
            mode=data["mode"],
            content=None,
            index=int(data["index"]),
            kind=data.get("kind", "file"),
            after_sha=data["after_sha256"],
            inode=data.get("inode", "-"),
        )

    def expected_now(self) -> Entry:
        """The entry a compare-and-swap uses before undoing this change: the state it left behind (a chmod or
        chown keeps the inode; a write or delete leaves another one, or none)."""
        gone = self.op == "delete" or self.kind == "socket"
        return replace(
            self,
            before_sha=self.after_sha,
            before_mode="-" if gone else self.mode,
            before_owner="-" if gone else self.owner,
            before_group="-" if gone else self.group,
            content=None,
            inode=self.inode if self.op == "meta" else "-",
        )


def entry_op(change: FileChange) -> str:
    """write or delete when a file's bytes change, else meta (chown/chmod only)."""
    if change.kind == "file" and change.content_changed:
        return "delete" if change.after is None else "write"
    return "meta"


def entry_for(change: FileChange, index: int) -> Entry:
    op = entry_op(change)
    # "-": no bytes to compare (a directory, a socket, or a file whose bytes are never carried)
    before_sha = "-" if change.metadata_only else "absent" if change.before is None else sha256(change.before)
    found = change.before is not None or change.metadata_only
    after_sha = sha256(change.after or b"") if op == "write" else "absent" if op == "delete" else before_sha
    return Entry(
        path=change.path,
        op=op,
        before_sha=before_sha,
        before_mode=stat_mode(change.old_mode) if found else "-",
        before_owner=(change.old_owner or "-") if found else "-",
        before_group=(change.old_group or "-") if found else "-",
        owner=change.owner,
        group=change.group,
        mode=stat_mode(change.mode),
        content=change.after if op == "write" else None,
        index=index,
        kind=change.kind,
        after_sha=after_sha,
        inode=(change.old_inode or "-") if found and change.kind != "socket" else "-",
    )


def entries_for(changes) -> list[Entry]:
    return [entry_for(change, i) for i, change in enumerate(changes, start=1)]


def entry_words(entries: list[Entry], restore: bool = False) -> list[str]:
    """The script's arguments for these entries, one record after the other."""
    return [arg for e in entries for arg in e.record(restore=restore).args()]


@dataclass(frozen=True)
class Line:
    kind: str  # ok | fail | locked | state | bootid | busy | run | unlocked
    step: str
    detail: str


@dataclass(frozen=True)
class Reply:
    rc: int
    lines: tuple[Line, ...]
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def failures(self) -> list[Line]:
        return [line for line in self.lines if line.kind == "fail"]

    def first(self, kind: str) -> Line | None:
        return next((line for line in self.lines if line.kind == kind), None)

    def error(self) -> str:
        """The script's own words for what went wrong (or stderr when it said nothing)."""
        fails = self.failures()
        if fails:
            return "; ".join(f"{f.step}: {f.detail}" for f in fails)
        return self.stderr.strip()[-400:] or f"exit {self.rc}"


def parse_reply(result: CommandResult) -> Reply:
    lines = []
    for raw in result.text().splitlines():
        kind, _, rest = raw.partition(" ")
        if kind in ("locked", "state", "bootid", "busy", "unlocked"):
            lines.append(Line(kind, "", rest))
        elif kind:
            step, _, detail = rest.partition(" ")
            lines.append(Line(kind, step, detail))
    return Reply(result.rc, tuple(lines), result.text("stderr"))


def pause_args() -> list[str]:
    """The script's --pause argument when a fault test asked for one (REMEDIATE_TEST_PAUSE), else nothing."""
    point = os.environ.get(PAUSE_ENV, "")
    if not point:
        return []
    if not PAUSE_POINTS.fullmatch(point):
        raise ValueError(f"{PAUSE_ENV}={point!r}: not one of staged, renamed-first, renamed")
    return [f"--pause={point}"]


class Transaction:
    """The script's commands for one run id on one open connection (one round trip each)."""

    def __init__(self, conn: Connection, run_id: str, *, become: bool, base: str = BASE):
        self.conn = conn
        self.run_id = run_id
        self.become = become
        self.base = base

    def raw(self, command: str, *args: str, stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        return self.conn.run_script(
            script(),
            args=[*pause_args(), command, self.base, self.run_id, *args],
            stdin=stdin,
            become=self.become,
            timeout=timeout,
        )

    def call(self, command: str, *args: str, stdin: bytes | None = None, timeout: float | None = None) -> Reply:
        return parse_reply(self.raw(command, *args, stdin=stdin, timeout=timeout))

    def checked(self, command: str, *args: str, stdin: bytes | None = None, timeout: float | None = None) -> Reply:
        reply = self.call(command, *args, stdin=stdin, timeout=timeout)
        if not reply.ok:
            raise CommandFailed(f"{command}: {reply.error()}", rc=reply.rc, stderr=reply.stderr)
        return reply
