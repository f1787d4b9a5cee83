"""auditd watches for the CIS 1.1.x paths that exist on this host: /etc/audit/rules.d/docker.rules.

Paths are the host's own (resolved binaries, the unit files systemd loaded),
found with remediate.checks.host.audited_path, plus paths this plan creates
(a new daemon.json makes 1.1.11 applicable). A path already watched by any
rules file, under any spelling the host resolves to the same file (CheckContext.canonical:
/lib/systemd/system/docker.service where /lib -> usr/lib, /etc/docker/), is not added again:
augenrules concatenates rules.d, and a duplicate watch makes auditctl stop loading with "Rule exists". When
docker.rules exists (ours or the owner's) its bytes are kept and the missing
rules are appended; otherwise the template renders them, sorted.

Docker's data directories (1.1.4 /run/containerd, 1.1.5 the data root) are watched only under a policy with
`auditd_data_dirs: recursive`: a `-w DIR` watch covers the whole subtree, so container I/O floods the audit
log. Under the default (`none`) the plan says why they stay unwatched, and the checks report a warning.

Rules are loaded (action load-audit-rules, i.e. augenrules --load) only when
auditd is installed (`auditctl` is not rc 127); they are also loaded when the
files already hold a watch the kernel lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from remediate.checks.context import AuditdRule
from remediate.checks.host import AUDITED, DATA_DIR_WHY, audited_path, configured_path
from remediate.checks.model import FAIL, WARN
from remediate.plan.model import FileChange, Impact
from remediate.plan.view import HostView
from remediate.policy import DATA_DIR_CHECKS
from remediate.templates import render

RULES_PATH = "/etc/audit/rules.d/docker.rules"
RULES_MODE = 0o640


@dataclass(frozen=True)
class AuditdPlan:
    change: FileChange | None
    load: bool
    load_fixes: tuple[str, ...]
    notes: tuple[str, ...]
    impacts: tuple[Impact, ...] = ()


def _watched_in_files(view: HostView) -> set[str]:
    """Every path a rules file watches, as the host resolves it (CheckContext.canonical)."""
    found = set()
    for path, fact in view.facts.files.items():
        if (path.startswith("/etc/audit/rules.d/") and path.endswith(".rules")) or path == "/etc/audit/audit.rules":
            for n, line in enumerate((fact.text() or "").splitlines(), 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    watched = AuditdRule(path, n, line.strip()).watched_path()
                    if watched:
                        found.add(view.ctx.canonical(watched))
    return found


def _watched_in_kernel(view: HostView) -> set[str] | None:
    auditctl = view.ctx.parsed.auditctl
    if not auditctl.answered:
        return None
    return {
        view.ctx.canonical(w)
        for n, line in enumerate(auditctl.rules or (), 1)
        if (w := AuditdRule("auditctl -l", n, line).watched_path())
    }


def wanted_paths(view: HostView, will_exist: set[str]) -> dict[str, str]:
    """check id -> the path CIS wants watched for it on this host after the plan (skipped/waived checks left out)."""
    out = {}
    for check_id, (kind, _name) in AUDITED.items():
        if check_id in view.policy.skip or check_id in view.waived:
            continue
        if check_id in DATA_DIR_CHECKS and view.policy.auditd_data_dirs == "none":
            continue
        path = audited_path(view.ctx, check_id)
        if path is None and kind not in ("bin", "unit") and configured_path(view.ctx, check_id) in will_exist:
            path = configured_path(view.ctx, check_id)
        if path:
            out[check_id] = path
    return out


def auditd_rules(view: HostView, will_exist: set[str]) -> AuditdPlan:
    wanted = wanted_paths(view, will_exist)
    notes = []
    usable = {}
    for check_id, path in wanted.items():
        if any(c.isspace() for c in path):
            notes.append(f"auditd: {path} holds whitespace and cannot be a -w rule; watch it by hand ({check_id})")
        else:
            usable[check_id] = path
    in_files = _watched_in_files(view)
    canonical = view.ctx.canonical
    # One watch per file: a path a rule already watches under another spelling (/lib/... for /usr/lib/...)
    # is not added again, nor the same file twice under two spellings.
    missing, watched = [], set(in_files)
    for path in sorted(set(usable.values())):
        if canonical(path) not in watched:
            watched.add(canonical(path))
            missing.append(path)
    added = {canonical(p) for p in missing}
    change = None
    if missing:
        fact = view.file(RULES_PATH)
        if fact.exists and fact.content is not None:
            text = fact.content.decode("utf-8", "surrogateescape")
            if text and not text.endswith("\n"):
                text += "\n"
            after = (text + "".join(f"-w {p} -k docker\n" for p in missing)).encode("utf-8", "surrogateescape")
            before, mode, owner, group, inode = fact.content, fact.mode, fact.owner, fact.group, fact.inode
        else:
            after = render("harden/docker.rules.j2", paths=missing).encode()
            before, mode, owner, group, inode = None, None, None, None, None
        fixes = tuple(sorted((c for c, p in usable.items() if canonical(p) in added and c in view.failing), key=_order))
        change = FileChange(
            path=RULES_PATH,
            before=before,
            after=after,
            owner=owner or "root",
            group=group or "root",
            mode=RULES_MODE if mode is None else mode,
            fixes=fixes,
            reason=f"auditd watches for {len(missing)} Docker path(s): {', '.join(missing)}",
            old_mode=mode,
            old_owner=owner,
            old_group=group,
            old_inode=inode,
        )
    kernel = _watched_in_kernel(view)
    unloaded = {canonical(p) for p in usable.values() if kernel is not None and canonical(p) not in kernel}
    load = view.auditd_present and bool(missing or unloaded)
    load_fixes = (
        tuple(
            sorted((c for c, p in usable.items() if canonical(p) in added | unloaded and c in view.failing), key=_order)
        )
        if load
        else ()
    )
    if missing and not view.auditd_present:
        notes.append("auditd: not installed (no auditctl); the rules file is written and applies once auditd runs")
    unwatched = sorted(
        c for c in DATA_DIR_CHECKS if c not in wanted and c in view.results and view.results[c].status in (FAIL, WARN)
    )
    if unwatched and view.policy.auditd_data_dirs == "none":
        paths = " and ".join(configured_path(view.ctx, c) for c in unwatched)
        notes.append(
            f"auditd: {paths} left unwatched ({', '.join(unwatched)} stay warnings): {DATA_DIR_WHY}; "
            "set auditd_data_dirs: recursive in the policy to add the CIS watches"
        )
    data_dirs = [p for c, p in usable.items() if c in DATA_DIR_CHECKS and canonical(p) in added]
    impacts = (data_dir_impact(data_dirs),) if data_dirs else ()
    return AuditdPlan(change, load, load_fixes, tuple(notes), impacts)


def data_dir_impact(paths: list[str]) -> Impact:
    return Impact(
        "audit-data-dirs",
        f"auditd watches on {' and '.join(sorted(paths))} are recursive (a `-w DIR` watch "
        "covers the whole subtree): every file a container writes there, every image layer pulled and every "
        "container start adds audit records; on busy hosts expect a large audit log, rotated-away history "
        "and a full audit backlog (lost events, or a kernel panic where the failure flag is -f 2)",
        "medium",
    )


def _order(check_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in check_id.split("."))
