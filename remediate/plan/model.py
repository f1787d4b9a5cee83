"""What harden would do to one host, as data: file changes, service actions, impacts, held-back risks.

A Plan is computed from facts alone (remediate.plan.planner) and carries
everything the apply step and a reviewer need: the exact old and new bytes of
every file (so a compare-and-swap can refuse a file that changed since it was
read), owner and mode, the checks each change fixes, and why. Diffs are data
too (`unified_diff`); only the output layer colours them.

A FileChange is one path:
- metadata_only (chmod/chown of an existing path, any kind): only owner and
  mode change, and before/after are both None: the plan never carries the
  bytes of a file it does not rewrite (key material is never even read);
- kind "file", not metadata_only: `before` None means the file is absent (the
  change creates it), `after` None means the change deletes it; equal bytes
  with a different mode/owner is a chmod/chown that also checks the bytes;
- kind "directory" or "socket": always metadata_only.
old_mode/old_owner/old_group describe the path as found (None when absent),
old_inode is "DEV:INO" of the file found (FileFact.inode; None when absent or
not known), so apply can tell it is still the file that was planned.
"""

from __future__ import annotations

import base64
import difflib
import json
from dataclasses import dataclass
from functools import cached_property

from remediate.severity import SEVERITIES

ACTION_KINDS = (
    "reset-failed",
    "daemon-reload",
    "reload-docker",
    "add-remap-user",
    "save-images",
    "restart-docker",
    "load-images",
    "load-audit-rules",
)
ALL_IMAGES = "*"  # save-images: every tagged image
# An impact is ranked on the checks' scale but stops at "high": "critical" ranks a security finding, and the worst a
# plan does to workloads (a restart that stops every container) is high, which the terminal shows in red.
IMPACT_SEVERITIES = SEVERITIES[: SEVERITIES.index("high") + 1]
_GIT_TYPE = {"file": "10", "directory": "04", "socket": "14"}


@dataclass(frozen=True)
class FileChange:
    path: str
    before: bytes | None
    after: bytes | None
    owner: str
    group: str
    mode: int
    fixes: tuple[str, ...] = ()
    reason: str = ""
    old_mode: int | None = None
    old_owner: str | None = None
    old_group: str | None = None
    kind: str = "file"
    metadata_only: bool = False  # an existing path whose owner/mode change; no bytes (see the module doc)
    old_inode: str | None = None  # "DEV:INO" as found

    @classmethod
    def rewrite(cls, fact, after: bytes, fixes: tuple[str, ...], reason: str) -> FileChange:
        """New bytes for a file as found: its owner, group and mode kept (root's 0644 where it is missing)."""
        return cls(
            path=fact.path,
            before=fact.content,
            after=after,
            owner=fact.owner or "root",
            group=fact.group or "root",
            mode=fact.mode if fact.mode is not None else 0o644,
            fixes=fixes,
            reason=reason,
            old_mode=fact.mode,
            old_owner=fact.owner,
            old_group=fact.group,
            old_inode=fact.inode,
        )

    def __post_init__(self):
        if self.kind != "file":
            object.__setattr__(self, "metadata_only", True)
        if self.metadata_only and (self.before is not None or self.after is not None):
            raise ValueError(f"{self.path}: a metadata-only change carries no content")

    @property
    def creates(self) -> bool:
        return not self.metadata_only and self.before is None and self.after is not None

    @property
    def deletes(self) -> bool:
        return not self.metadata_only and self.before is not None and self.after is None

    @property
    def content_changed(self) -> bool:
        return not self.metadata_only and self.before != self.after

    @property
    def mode_changed(self) -> bool:
        return self.old_mode is not None and self.old_mode != self.mode and not self.deletes

    @property
    def owner_changed(self) -> bool:
        return (
            self.old_owner is not None
            and not self.deletes
            and (self.old_owner, self.old_group) != (self.owner, self.group)
        )

    @property
    def changed(self) -> bool:
        return self.content_changed or self.mode_changed or self.owner_changed

    @cached_property
    def diff(self) -> str:
        """unified_diff of this change, computed once: the terminal, the results and every report show it."""
        return unified_diff(self)

    def to_json(self) -> dict:
        data = {
            "path": self.path,
            "kind": self.kind,
            "action": (
                "create"
                if self.creates
                else "delete"
                if self.deletes
                else "rewrite"
                if self.content_changed
                else "chmod/chown"
            ),
            "owner": self.owner,
            "group": self.group,
            "mode": f"{self.mode:04o}",
            "old_owner": self.old_owner,
            "old_group": self.old_group,
            "old_mode": None if self.old_mode is None else f"{self.old_mode:04o}",
            "old_inode": self.old_inode,
            "metadata_only": self.metadata_only,
            "fixes": list(self.fixes),
            "reason": self.reason,
            "diff": self.diff,
        }
        for name in ("before", "after"):
            data[name], data[f"{name}_encoding"] = _encode(getattr(self, name))
        return data


def _encode(content: bytes | None) -> tuple[str | None, str | None]:
    if content is None:
        return None, None
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(content).decode("ascii"), "base64"


@dataclass(frozen=True)
class Action:
    """A service step, in the order the plan lists them.

    kind: reset-failed (clear systemd's start limit before starting a failed
    unit), daemon-reload (unit files changed), reload-docker (SIGHUP: only
    reloadable keys changed, or live-restore first), restart-docker (units
    lists which units, docker.socket before docker.service when the socket
    unit changed), add-remap-user (units: the system user userns-remap "default" maps to, added by harden
    before the restart rather than by dockerd, so a rollback removes it again), save-images / load-images
    (carry `images` across a restart that moves dockerd's image store, as userns-remap does: saved before it,
    loaded into the new store after it; ALL_IMAGES: every tagged one),
    load-audit-rules (augenrules --load).
    """

    kind: str
    reason: str
    units: tuple[str, ...] = ()
    images: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}")

    def to_json(self) -> dict:
        data = {"kind": self.kind, "reason": self.reason, "units": list(self.units)}
        if self.images:
            data["images"] = list(self.images)
        return data


@dataclass(frozen=True)
class Impact:
    """What the plan (or the host as it is) does to workloads: found in the facts, said before acting."""

    kind: str
    message: str
    severity: str = "medium"

    def __post_init__(self):
        if self.severity not in IMPACT_SEVERITIES:
            raise ValueError(f"impact {self.kind}: severity {self.severity!r} is not one of {IMPACT_SEVERITIES}")

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message, "severity": self.severity}


@dataclass(frozen=True)
class HeldBack:
    """A change the policy wants that this plan does not make, why, and how to accept it."""

    what: str
    reason: str
    how_to_accept: str

    def to_json(self) -> dict:
        return {"what": self.what, "reason": self.reason, "how_to_accept": self.how_to_accept}


@dataclass(frozen=True)
class Plan:
    host: str
    changes: tuple[FileChange, ...] = ()
    actions: tuple[Action, ...] = ()
    impacts: tuple[Impact, ...] = ()
    held_back: tuple[HeldBack, ...] = ()
    refused: str | None = None
    notes: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()  # fixable checks this plan leaves failing (held back, skipped...)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.actions

    def change(self, path: str) -> FileChange | None:
        return next((c for c in self.changes if c.path == path), None)

    def action_kinds(self) -> list[str]:
        return [a.kind for a in self.actions]

    def fixes(self) -> list[str]:
        return sorted({f for c in self.changes for f in c.fixes}, key=_check_order)

    def to_json(self) -> dict:
        return {
            "host": self.host,
            "refused": self.refused,
            "empty": self.empty,
            "changes": [c.to_json() for c in self.changes],
            "actions": [a.to_json() for a in self.actions],
            "impacts": [i.to_json() for i in self.impacts],
            "held_back": [h.to_json() for h in self.held_back],
            "notes": list(self.notes),
            "fixes": self.fixes(),
            "still_failing": list(self.still_failing),
        }

    def dumps(self) -> str:
        """The plan as stable JSON text (same facts and policy, same bytes)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _check_order(check_id: str) -> tuple:
    """1.1.3 < 1.1.10 < 2.2 < 3.16 < REM-*."""
    parts = check_id.split(".")
    return (not parts[0].isdigit(), [int(p) if p.isdigit() else p for p in parts] if parts[0].isdigit() else [check_id])


def _git_mode(kind: str, mode: int) -> str:
    """git's notation: 100644 for a file, 040755 for a directory (special bits in the fourth digit)."""
    return f"{_GIT_TYPE.get(kind, '10')}{mode & 0o7777:04o}"


def unified_diff(change: FileChange) -> str:
    """A git-style diff of one change: header, mode/owner lines, then difflib's unified hunks.

    Paths are shown as a/PATH and b/PATH without the leading slash (as git
    shows repository paths), so the text applies with `patch -p1 -d /`.
    """
    rel = change.path.lstrip("/")
    lines = [f"diff --git a/{rel} b/{rel}"]
    if change.creates:
        lines.append(f"new file mode {_git_mode(change.kind, change.mode)}")
    elif change.deletes:
        lines.append(f"deleted file mode {_git_mode(change.kind, change.old_mode or change.mode)}")
    else:
        if change.mode_changed and change.old_mode is not None:  # mode_changed implies an old mode
            lines += [
                f"old mode {_git_mode(change.kind, change.old_mode)}",
                f"new mode {_git_mode(change.kind, change.mode)}",
            ]
        if change.owner_changed:
            lines += [f"old owner {change.old_owner}:{change.old_group}", f"new owner {change.owner}:{change.group}"]
    if change.content_changed:
        before, after = change.before or b"", change.after or b""
        try:
            old, new = before.decode("utf-8"), after.decode("utf-8")
        except UnicodeDecodeError:
            lines.append(f"Binary files a/{rel} and b/{rel} differ")
        else:
            hunks = difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile="/dev/null" if change.before is None else f"a/{rel}",
                tofile="/dev/null" if change.after is None else f"b/{rel}",
            )
            text = "".join(h if h.endswith("\n") else h + "\n\\ No newline at end of file\n" for h in hunks)
            return "\n".join(lines) + "\n" + text
    return "\n".join(lines) + "\n"
