"""chmod/chown fixes for the failing section-3 checks (owner and mode of the daemon's files).

The new mode only takes bits away: mode & allowed (0666 -> 0644, 0777 -> 0755),
so a file that is stricter than CIS asks stays as strict. Owners become
root:root (the containerd socket too). The Docker socket (3.15/3.16) is not
chmod-ed: systemd recreates it from docker.socket at every start, so its
mode and owner are fixed by the socket drop-in (remediate.plan.units).
Every change here is metadata_only: no bytes (TLS keys and certificates are
never read), and the inode found, for apply to check it still has that file.
"""

from __future__ import annotations

from dataclasses import replace

from remediate.checks.files import MODES, OWNERS, _files, mode_ok
from remediate.plan.model import FileChange
from remediate.plan.view import HostView

# Fixed through docker.socket, not by chmod/chown.
SOCKET_CHECKS = frozenset({"3.15", "3.16"})
_KINDS = {"file": "file", "dir": "directory", "socket": "socket"}


def permission_fixes(view: HostView) -> dict[str, FileChange]:
    """path -> a metadata-only FileChange for every file a failing 3.x check names."""
    wanted: dict[str, dict] = {}
    for check_id, (what, owner_group) in OWNERS.items():
        if check_id not in view.failing or check_id in SOCKET_CHECKS:
            continue
        owner, group = owner_group.split(":")
        for fact in _files(view.ctx, what):
            if fact.exists and (fact.owner, fact.group) != (owner, group):
                entry = wanted.setdefault(fact.path, {"fact": fact, "fixes": [], "why": []})
                entry["owner"], entry["group"] = owner, group
                entry["fixes"].append(check_id)
                entry["why"].append(f"owner {fact.owner}:{fact.group} -> {owner}:{group} ({check_id})")
    for check_id, (what, allowed) in MODES.items():
        if check_id not in view.failing or check_id in SOCKET_CHECKS:
            continue
        for fact in _files(view.ctx, what):
            if fact.exists and fact.mode is not None and not mode_ok(fact.mode, allowed):
                entry = wanted.setdefault(fact.path, {"fact": fact, "fixes": [], "why": []})
                entry["mode"] = entry.get("mode", fact.mode) & allowed
                entry["fixes"].append(check_id)
                entry["why"].append(f"mode {fact.mode:04o} -> {entry['mode']:04o} ({check_id}: at most {allowed:04o})")
    out = {}
    for path, entry in sorted(wanted.items()):
        fact = entry["fact"]
        if fact.kind == "symlink":
            continue  # chmod/chown follow the link: they would change a file the plan does not name
        out[path] = FileChange(
            path=path,
            before=None,
            after=None,
            owner=entry.get("owner", fact.owner),
            group=entry.get("group", fact.group),
            mode=entry.get("mode", fact.mode),
            fixes=tuple(entry["fixes"]),
            reason="; ".join(entry["why"]),
            old_mode=fact.mode,
            old_owner=fact.owner,
            old_group=fact.group,
            kind=_KINDS.get(fact.kind, "file"),
            metadata_only=True,
            old_inode=fact.inode,
        )
        if fact.kind == "socket":
            out[path] = replace(
                out[path],
                reason=out[path].reason + "; the daemon owning the socket recreates it at "
                "its next start with its own settings (containerd: [grpc] uid/gid in config.toml)",
            )
    return out


def combine(change: FileChange, fix: FileChange) -> FileChange:
    """A content change of a path that also needs chmod/chown: one change, both sets of fixes (the bytes
    and the path as found come from the content change, whichever of the two it is)."""
    content, meta = (fix, change) if change.metadata_only and not fix.metadata_only else (change, fix)
    return FileChange(
        path=change.path,
        before=content.before,
        after=content.after,
        owner=meta.owner,
        group=meta.group,
        mode=content.mode & meta.mode if content.old_mode is not None else content.mode,
        fixes=tuple(dict.fromkeys(change.fixes + fix.fixes)),
        reason=f"{change.reason}; {fix.reason}",
        old_mode=content.old_mode,
        old_owner=content.old_owner,
        old_group=content.old_group,
        kind=content.kind,
        metadata_only=change.metadata_only and fix.metadata_only,
        old_inode=content.old_inode or (change.old_inode or fix.old_inode),
    )
