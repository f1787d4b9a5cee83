"""Changes root must not make where a user could swap the path for a link (facts: remediate.facts.dirs).

A metadata-only change there (chown/chmod of a TLS file in a user's home) is held back, and the rest of the
plan goes on: the check it would fix stays failing, and the reason says what to do. A content change there
(a unit drop-in or daemon.json in a directory a user can write) refuses the whole plan: the dockerd
configuration itself is in a user's hands, and no restart is safe until the owner fixes that. A directory
that this same plan makes root's alone (loose-perms' /etc/docker 0777) counts as safe for the files in it:
the host's transaction script tightens it first and re-checks what it staged there before the rename.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediate.facts.dirs import parent
from remediate.facts.model import HostFacts
from remediate.plan.model import FileChange, HeldBack

HOW_TO_FIX = (
    "no option accepts this: move the file under a directory only root can write (such as "
    "/etc/docker/certs) and point the configuration there, or make every directory on its way root's "
    "and not writable by others, then plan again"
)


def unsafe_changes(facts: HostFacts, changes: Iterable[FileChange]) -> dict[str, str]:
    """path -> why root must not change it where it is, for the changes whose directories are not root's alone."""
    changes = list(changes)
    chain = facts.parsed.dir_chain
    tightened = tightened_dirs(changes)
    out = {}
    for change in changes:
        why = chain.why_unsafe(parent(change.path), tightened)
        if why:
            out[change.path] = why
    return out


def tightened_dirs(changes: Iterable[FileChange]) -> frozenset[str]:
    """The directories these changes make root's alone (owner root, no group or other write)."""
    return frozenset(c.path for c in changes if c.kind == "directory" and c.owner == "root" and not c.mode & 0o022)


def held_back(path: str, why: str) -> HeldBack:
    return HeldBack(
        path,
        f"{why}: a user could swap {path} for a link to a root-only file while root changes "
        "it, so harden does not touch it",
        HOW_TO_FIX,
    )


def refusal(unsafe: dict[str, str], changes: dict[str, FileChange]) -> str | None:
    """The refusal of a plan that would write dockerd's configuration where a user can change it, or None."""
    written = [p for p in sorted(unsafe) if changes[p].content_changed]
    if not written:
        return None
    return (
        "harden does not write where a user other than root can swap files for links: "
        + "; ".join(f"{p}: {unsafe[p]}" for p in written)
        + "; "
        + HOW_TO_FIX
    )
