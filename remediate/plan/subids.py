"""/etc/subuid and /etc/subgid ranges for userns-remap's user.

`userns-remap: "default"` makes dockerd use the user `dockremap`, whose
subordinate ids come from /etc/subuid and /etc/subgid (keyed by user name).
When a file lacks a dockremap range, harden appends `dockremap:START:65536`,
START being past the highest range of either file (at least 165536), so the
uid and gid maps line up and never overlap another user's range. The bytes
already in the file are kept as they are.
"""

from __future__ import annotations

from remediate.facts import parse
from remediate.plan.model import FileChange
from remediate.plan.view import HostView

REMAP_USER = "dockremap"
RANGE = 65536
MIN_START = 165536
FILES = ("/etc/subuid", "/etc/subgid")


def remap_user(value: str) -> str | None:
    """The user dockerd maps to: "default" -> dockremap; "user" or "user:group" -> user."""
    if not value:
        return None
    return REMAP_USER if value == "default" else value.split(":")[0]


def subid_changes(view: HostView, remap: str, fixes: tuple[str, ...]) -> tuple[list[FileChange], list[str]]:
    user = remap_user(remap)
    if user is None:
        return [], []
    facts = {path: view.file(path) for path in FILES}
    ranges = {path: parse.id_ranges(f.text() or "") for path, f in facts.items()}
    lacking = [path for path in FILES if not ranges[path].get(user)]
    if not lacking:
        return [], []
    if user != REMAP_USER:
        return [], [
            (
                f"userns-remap {remap!r}: {', '.join(lacking)} have no range for {user}; dockerd refuses to start "
                'until they do (harden only allocates ranges for "default", i.e. dockremap)'
            )
        ]
    end = max([start + count for r in ranges.values() for spans in r.values() for start, count in spans] + [MIN_START])
    line = f"{REMAP_USER}:{end}:{RANGE}\n".encode()
    changes = []
    for path in lacking:
        fact = facts[path]
        before = fact.content if fact.exists else None
        text = before or b""
        after = text + (b"\n" if text and not text.endswith(b"\n") else b"") + line
        changes.append(
            FileChange.rewrite(
                fact,
                after,
                fixes,
                f'subordinate ids {end}-{end + RANGE - 1} for {REMAP_USER} (userns-remap "default" needs them)',
            )
        )
    return changes, []
