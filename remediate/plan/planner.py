"""plan_host: facts + policy -> Plan. Pure: no I/O, no SSH, the same inputs always give the same plan.

Steps, each in its own module:
1. refuse a daemon.json that cannot be read exactly (syntax error, not a
   regular file, huge, unreadable) — the message names file:line:col; with
   repair_json a syntax-broken (or huge) file is backed up and replaced;
2. decide what is held back (policy hold_back not accepted, live-restore on a
   swarm node) or waived (every check of a key waived for this host);
3. take insecure flags off the command line (units: service drop-in,
   EnvironmentFile rewrite) and merge daemon.json (daemon_json) knowing which
   flags remain; the socket drop-in; subuid/subgid for userns-remap;
4. auditd rules for the 1.1.x paths that will exist; chmod/chown for failing
   section-3 checks (merged into a content change of the same path);
5. hold back metadata changes where a user could swap the path for a link,
   refuse content changes there (dir_safety);
6. service actions and impacts; then the plan is applied to a copy of the
   facts (simulate) to check that dockerd would accept the result and to list
   the fixable checks still failing afterwards.

repair_json (documented choice): when daemon.json cannot be parsed, harden
does not guess what the owner meant. With repair_json it writes a copy of the
broken bytes next to it (daemon.json.remediate-broken-<sha256:12>, same owner
and mode) and replaces daemon.json with the policy's settings merged over an
EMPTY object: every setting of the broken file is lost from the live
configuration, and the plan's notes list the keys that were seen in it so
they can be restored by hand from the copy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from remediate.dockerd.daemon_json import REVIEW_LIMIT
from remediate.dockerd.options import RELOADABLE
from remediate.dockerd.problems import DuplicateKey, JsonSyntaxError, UnitProblem
from remediate.facts.model import HostFacts
from remediate.plan import auditd_rules, dir_safety, impacts, permissions, subids, units
from remediate.plan.daemon_json import KEY_CHECKS, Merge, desired_daemon_json, json_equal, render_daemon_json
from remediate.plan.hosts import decide_hosts, tcp_goes
from remediate.plan.model import ALL_IMAGES, Action, FileChange, HeldBack, Impact, Plan
from remediate.plan.simulate import simulated
from remediate.plan.view import HostView
from remediate.policy import Policy

# SyntaxError reasons whose rewrite loses nothing dockerd reads (the file is re-rendered from its values).
LOSSLESS = frozenset({"empty", "bom"})
UNIT_PREFIXES = ("/etc/systemd/", "/run/systemd/", "/lib/systemd/", "/usr/lib/systemd/")
_REPAIR_HINT = (
    "harden does not rewrite a daemon.json it cannot read exactly: fix it by hand, or plan with "
    "repair_json (--repair-json) to keep a copy of it and replace it with the policy's settings alone "
    "(its own settings are then lost)"
)


def _refusal(view: HostView) -> tuple[str, bool] | None:
    """Why daemon.json must not be touched, and whether repair_json may replace it anyway."""
    eff = view.effective
    path = eff.daemon_json_path
    fact = view.file(path)
    mismatch = [p for p in eff.problems if isinstance(p, UnitProblem) and p.detail == "config-file-mismatch"]
    if mismatch:
        return mismatch[0].message + "; harden refuses to plan on the wrong file", False
    if fact.kind == "missing":
        return None
    if fact.kind == "error" or (fact.kind in ("file", "symlink") and fact.content is None):
        return (
            (
                f"{path}: could not be read ({fact.error or 'no content gathered'}); "
                "harden plans only on files it has read"
            ),
            False,
        )
    if fact.kind == "symlink":
        return (
            f"{path} is a symlink to {fact.link_target}: harden writes regular files and would replace the link; "
            "edit the target or replace the link by a file"
        ), False
    if fact.kind != "file":
        return (
            f"{path} is a {fact.kind}, not a regular file: dockerd cannot read it and harden will not replace it",
            False,
        )
    size = len(fact.content or b"")
    if size > REVIEW_LIMIT:
        return f"{path} is {size} bytes (over {REVIEW_LIMIT}): too large to review; {_REPAIR_HINT}", True
    bad = [p for p in eff.daemon_json.problems if isinstance(p, JsonSyntaxError) and p.reason not in LOSSLESS]
    if bad or eff.daemon_json.values is None:
        first = bad[0].message if bad else f"{path}: cannot be parsed"
        return f"{first}. {_REPAIR_HINT}", True
    return None


def _seen_keys(content: bytes) -> list[str]:
    text = content.decode("utf-8", "replace")
    return sorted(set(re.findall(r'"((?:[^"\\\n]|\\.)*)"\s*:', text)))


def _hold(view: HostView, accept_risk: frozenset[str]) -> tuple[dict[str, str], dict[str, HeldBack]]:
    """Keys left as the host has them: key -> reason (for notes), and the HeldBack entries (risks)."""
    policy = view.policy
    reasons: dict[str, str] = {}
    held: dict[str, HeldBack] = {}
    for key in sorted(policy.hold_back):
        if key in accept_risk or key not in policy.daemon:
            continue
        reasons[key] = f"held back by the policy (hold_back: {key}); accept with --accept-risk {key}"
        held[key] = HeldBack(
            key,
            "listed in the policy's hold_back: the change has impacts on workloads (see impacts)",
            f"plan with accept_risk including {key!r} (harden --accept-risk {key}), or remove "
            f"{key} from the policy's hold_back",
        )
    if view.swarm_active and policy.daemon.get("live-restore") is True:
        reasons["live-restore"] = "this node is in swarm mode: live-restore would stop dockerd at its next start"
        held["live-restore"] = HeldBack(
            "live-restore",
            "this node is an active swarm member, and dockerd refuses to start with live-restore in swarm mode",
            "cannot be accepted while the node is in swarm mode: leave the swarm "
            "(docker swarm leave) or drop live-restore from the policy for this host",
        )
    for key in sorted(policy.daemon):
        checks = KEY_CHECKS.get(key, ())
        if checks and key not in reasons and all(c in view.waived for c in checks):
            reasons[key] = f"waived for this host ({', '.join(checks)})"
    return reasons, held


def plan_host(
    facts: HostFacts,
    policy: Policy,
    *,
    accept_risk: set[str] | frozenset[str] = frozenset(),
    repair_json: bool = False,
    groups: tuple[str, ...] = (),
    today: dt.date | None = None,
    carry_images: bool = False,
) -> Plan:
    """What harden would change on this host, from its facts alone."""
    return plan_view(
        HostView(facts, policy, tuple(groups), today or dt.date.today()),
        accept_risk=accept_risk,
        repair_json=repair_json,
        carry_images=carry_images,
    )


def plan_view(
    view: HostView,
    *,
    accept_risk: set[str] | frozenset[str] = frozenset(),
    repair_json: bool = False,
    carry_images: bool = False,
) -> Plan:
    """plan_host on a view whose checks may already be evaluated (harden audits and plans from one view)."""
    facts = view.facts
    if not view.docker_installed:
        return Plan(facts.host, notes=("dockerd is not installed on this host: nothing to harden",))
    refused = _service_refusal(view)
    if refused:
        return Plan(facts.host, refused=refused)
    return _Planner(view, frozenset(accept_risk), repair_json, carry_images).plan()


def _service_refusal(view: HostView) -> str | None:
    """harden applies every change through systemd (daemon-reload, reload or restart docker.service)."""
    if not view.ctx.service.known:
        return (
            "systemctl was not found on this host: harden applies changes through systemd (daemon-reload, "
            "restart of docker.service) and cannot restart dockerd without it"
        )
    for unit, found in (("docker.service", view.ctx.service), ("docker.socket", view.socket_props)):
        if found.masked:
            return (
                f"{unit} is masked: dockerd cannot be restarted through it, and harden does not unmask what "
                f"its owner masked (systemctl unmask {unit} first, or leave this host out)"
            )
    return None


def unfixed(plan: Plan, policy: Policy) -> tuple[str, ...]:
    """The fixable checks a plan leaves failing for a reason other than the policy's hold_back (each named
    in its held_back or notes): what harden could not fix safely, which its exit code reports."""
    chosen = {c for key in policy.hold_back for c in KEY_CHECKS.get(key, ())}
    return tuple(c for c in plan.still_failing if c not in chosen)


class _Planner:
    def __init__(self, view: HostView, accept_risk: frozenset[str], repair_json: bool, carry_images: bool = False):
        self.view = view
        self.accept_risk = accept_risk
        self.repair_json = repair_json
        self.carry_images = carry_images
        self.changes: dict[str, FileChange] = {}
        self.notes: list[str] = []
        self.impacts: list[Impact] = []

    def add(self, change: FileChange | None) -> None:
        if change is None:
            return
        if change.path in self.changes:
            change = permissions.combine(self.changes[change.path], change)
        self.changes[change.path] = change

    def fixes(self, *check_ids: str) -> tuple[str, ...]:
        """The failing ones among check_ids, in catalogue order (never set order: plans are byte-stable)."""
        return tuple(sorted({c for c in check_ids if c in self.view.failing}, key=_order))

    def plan(self) -> Plan:
        view, eff = self.view, self.view.effective
        host = view.facts.host
        existing: dict | None = None
        refusal = _refusal(view)
        if refusal:
            message, repairable = refusal
            if not (self.repair_json and repairable):
                return Plan(host, refused=message)
            existing = {}
        reasons, held = _hold(view, self.accept_risk)
        leave = set(reasons)

        # 1. insecure flags, where they are written
        remove_tcp = tcp_goes([e.tls for e in eff.tcp_exposures], view.waived)
        removals = units.flags_to_remove(view, remove_tcp=remove_tcp, leave=leave)
        env_changes, env_handled, env_notes = units.env_file_rewrites(view, removals)
        self.notes += env_notes
        exec_removals = [r for r in removals if r.via == "ExecStart" or units.from_environment(r)]
        file_values = (eff.daemon_json.values or {}) if existing is None else existing
        gone = env_handled + exec_removals
        hosts = decide_hosts(
            remove_tcp=remove_tcp,
            file_values=file_values,
            given=eff.command_line.given("hosts"),
            removed=[r.flag for r in gone if r.flag.option.key == "hosts"],
        )
        service_fixes = self.fixes(*{c for r in exec_removals for c in r.checks}, *hosts.service_fixes)
        service = units.service_dropin(view, removals, need_host=hosts.need_host, fixes=service_fixes)
        self.notes += service.notes
        for change in env_changes:
            self.add(change)
        self.add(service.change)
        dropped = list(env_handled) + list(service.handled)
        for removal in removals:
            if removal not in dropped and not any(removal.flag.written in n for n in self.notes):
                self.notes.append(
                    f"{removal.flag.written!r} ({removal.flag.source}) stays: it could not be removed safely"
                )

        # 2. daemon.json
        merge = desired_daemon_json(
            eff,
            view.policy,
            dropped_flags=[r.flag for r in dropped],
            hold=leave,
            hold_reasons=reasons,
            remove_hosts=hosts.remove_file_hosts,
            existing=existing,
        )
        self.notes += merge.notes
        json_change = self._daemon_json(merge, existing is not None)
        self.add(json_change)
        if json_change is not None:
            self.notes += [
                f"{p.message}: the rewrite keeps only that one"
                for p in eff.daemon_json.problems
                if isinstance(p, DuplicateKey)
            ]

        # 3. docker.socket
        socket_fixes = self.fixes(*hosts.socket_fixes, "3.15", "3.16")
        socket_change, socket_notes = units.socket_dropin(view, remove_tcp=remove_tcp, fixes=socket_fixes)
        self.notes += socket_notes
        self.add(socket_change)

        # 4. userns-remap ranges
        flags_after = {f.option.key: f for f in eff.command_line.flags if f not in [r.flag for r in dropped]}
        remap = (
            flags_after["userns-remap"].value if "userns-remap" in flags_after else merge.settings.get("userns-remap")
        )
        if isinstance(remap, str) and remap:
            sub_changes, sub_notes = subids.subid_changes(
                view, remap, self.fixes("2.9") if "userns-remap" in merge.written else ()
            )
            self.notes += sub_notes
            for change in sub_changes:
                self.add(change)

        # 5. auditd rules, then permissions
        created = {c.path for c in self.changes.values() if c.creates}
        will_exist = created | {p.rsplit("/", 1)[0] for p in created}
        auditd = auditd_rules.auditd_rules(view, will_exist)
        self.notes += auditd.notes
        self.impacts += auditd.impacts
        self.add(auditd.change)
        for fix in permissions.permission_fixes(view).values():
            self.add(fix)

        # 6. nothing where a user could swap the path for a link (remediate.plan.dir_safety)
        unsafe = dir_safety.unsafe_changes(view.facts, self.changes.values())
        refused_unsafe = dir_safety.refusal(unsafe, self.changes)
        if refused_unsafe:
            return Plan(host, refused=refused_unsafe, notes=tuple(self.notes))
        for path in unsafe:
            del self.changes[path]

        # 7. actions and impacts
        actions = self._actions(merge, json_change, socket_change, auditd)
        held_entries = self._held_back(merge, held, leave, reasons)
        held_entries.update({path: dir_safety.held_back(path, why) for path, why in unsafe.items()})
        client_ca = self._client_ca_held(remove_tcp)
        if client_ca:
            held_entries[client_ca.what] = client_ca
        self._impacts(merge, held_entries)
        for problem in eff.problems:
            if problem.kind == "IgnoredKey":
                self.notes.append(f"kept as the owner wrote it: {problem.message}")
        draft = Plan(
            host,
            tuple(sorted(self.changes.values(), key=lambda c: c.path)),
            tuple(actions),
            tuple(self.impacts),
            tuple(held_entries[k] for k in sorted(held_entries)),
            None,
            tuple(self.notes),
        )
        return self._validated(draft)

    def _daemon_json(self, merge: Merge, repairing: bool) -> FileChange | None:
        view, eff = self.view, self.view.effective
        path = eff.daemon_json_path
        fact = view.file(path)
        lossless = any(
            isinstance(p, JsonSyntaxError) and p.reason in LOSSLESS and p.fatal for p in eff.daemon_json.problems
        )
        old = eff.daemon_json.values
        if not repairing and not lossless and old is not None and json_equal(old, merge.settings):
            return None
        if not fact.exists and not merge.settings:
            return None
        after = render_daemon_json(merge.settings)
        checks = {c for key in merge.changed_keys for c in KEY_CHECKS.get(key, ())}
        if merge.conflicts or lossless or repairing or "seccomp-profile" in merge.removed:
            checks.add("REM-CONFIG")
        fixes = tuple(c for c in sorted(checks, key=_order) if c in view.failing)
        parts = []
        if merge.written:
            parts.append("set " + ", ".join(f"{k}" for k in merge.written))
        if merge.removed:
            parts.append("remove " + ", ".join(merge.removed))
        if repairing:
            parts.insert(0, "replace the unreadable file with the policy's settings")
            self._backup(fact)
        elif lossless:
            parts.append("rewrite as plain UTF-8 JSON dockerd reads")
        reason = "; ".join(parts) + ("; the host's other keys kept" if not repairing else "")
        if fact.exists:
            return FileChange.rewrite(fact, after, fixes, reason)
        return FileChange(
            path=path, before=None, after=after, owner="root", group="root", mode=0o644, fixes=fixes, reason=reason
        )

    def _backup(self, fact) -> None:
        digest = hashlib.sha256(fact.content).hexdigest()[:12]
        backup = f"{fact.path}.remediate-broken-{digest}"
        self.add(
            FileChange(
                path=backup,
                before=None,
                after=fact.content,
                owner=fact.owner or "root",
                group=fact.group or "root",
                mode=fact.mode if fact.mode is not None else 0o644,
                reason=f"copy of the unreadable {fact.path} before repair",
            )
        )
        keys = _seen_keys(fact.content)
        self.notes.append(
            f"repair: {fact.path} could not be parsed and is replaced by the policy's settings alone; "
            f"everything it held is dropped from the live configuration"
            + (f" (keys seen in it: {', '.join(keys)})" if keys else "")
            + f"; the original bytes are kept in {backup}"
        )

    def _actions(self, merge: Merge, json_change, socket_change, auditd) -> list[Action]:
        view = self.view
        content = [c for c in self.changes.values() if c.content_changed]
        unit_changed = any(c.path.startswith(UNIT_PREFIXES) for c in content)
        env_paths = set(units.environment_files(view))
        restart_why = []
        if any(c.path.startswith(UNIT_PREFIXES) and ".service" in c.path for c in content):
            restart_why.append("dockerd's command line changes")
        if socket_change is not None:
            restart_why.append("docker.socket changes")
        if any(c.path in env_paths for c in content):
            restart_why.append("its environment file changes")
        reload_keys = []
        if json_change is not None:
            keys = set(merge.changed_keys)
            if not keys:
                restart_why.append("daemon.json is rewritten")
            elif keys - RELOADABLE:
                restart_why.append("daemon.json changes " + ", ".join(sorted(keys - RELOADABLE)) + " (not reloadable)")
            else:
                reload_keys = sorted(keys)
        active = view.docker_state == "active"
        actions = []
        restart = bool(restart_why) or (bool(reload_keys) and not active)
        if restart and view.docker_state == "failed":
            actions.append(Action("reset-failed", "docker.service is failed: clear its start limit before starting it"))
        if unit_changed:
            actions.append(Action("daemon-reload", "unit drop-ins change: systemd must re-read them"))
        if restart:
            line = view.effective.command_line
            live_after = merge.settings.get("live-restore") is True or (
                bool(line.given("live-restore")) and line.value("live-restore") is True
            )
            impact, reload_first = impacts.restart_impact(
                view, live_restore_after=live_after, userns_enabling="userns-remap" in merge.written
            )
            if impact:
                self.impacts.append(impact)
            if reload_first:
                actions.append(
                    Action(
                        "reload-docker",
                        "activate live-restore before the restart (SIGHUP reload; "
                        "live-restore is reloadable) so running containers survive it",
                        ("docker.service",),
                    )
                )
            # docker.socket too whenever it exists: a dockerd that listened on the unix path itself (a `hosts`
            # key or -H unix://) replaced the socket file, and `-H fd://` then gets no socket from systemd.
            units_ = ("docker.socket", "docker.service") if view.socket_loaded else ("docker.service",)
            why = restart_why or ["docker.service is not running"]
            if (
                "userns-remap" in merge.written
                and merge.settings.get("userns-remap") == "default"
                and not view.ctx.parsed.dockremap_user
            ):
                actions.append(
                    Action(
                        "add-remap-user",
                        f'userns-remap "default" maps to the system user '
                        f"{subids.REMAP_USER}: harden adds it (a rollback removes it)",
                        (subids.REMAP_USER,),
                    )
                )
            carried = self._carried_images(merge) if active else ()
            if carried:
                actions.append(
                    Action(
                        "save-images",
                        "userns-remap moves dockerd's image store: save "
                        + _images_text(carried)
                        + " before the restart",
                        images=carried,
                    )
                )
            actions.append(Action("restart-docker", "; ".join(why), units_))
            if carried:
                actions.append(
                    Action("load-images", "load " + _images_text(carried) + " into the remapped store", images=carried)
                )
        elif reload_keys:
            actions.append(
                Action(
                    "reload-docker", "only reloadable settings change: " + ", ".join(reload_keys), ("docker.service",)
                )
            )
        if auditd.load:
            actions.append(
                Action("load-audit-rules", "load the Docker auditd watches into the kernel (augenrules --load)")
            )
        return actions

    def _carried_images(self, merge: Merge) -> tuple[str, ...]:
        """What a restart that switches the image store (userns-remap written) carries over: the policy's
        verification image (verification must start a container afterwards), and with carry_images every
        tagged image (an air-gapped host cannot pull them again)."""
        if "userns-remap" not in merge.written:
            return ()
        if self.carry_images:
            return (ALL_IMAGES,)
        image = self.view.policy.verify_image
        return (image,) if image else ()

    def _held_back(
        self, merge: Merge, held: dict[str, HeldBack], leave: set[str], reasons: dict[str, str]
    ) -> dict[str, HeldBack]:
        """HeldBack entries for keys the plan would otherwise change."""
        if not held:
            return {}
        eff = self.view.effective
        keep = leave - set(held)
        full = desired_daemon_json(
            eff,
            self.view.policy,
            hold=keep,
            hold_reasons=reasons,
            existing=None if eff.daemon_json.values is not None else {},
        )
        out = {}
        for key, entry in held.items():
            if key in full.changed_keys:
                reason = entry.reason
                if key == "userns-remap":
                    reason = "; ".join(i.message for i in impacts.userns_impacts(self.view, held=True)) or reason
                out[key] = HeldBack(key, reason, entry.how_to_accept)
        return out

    def _client_ca_held(self, remove_tcp: bool) -> HeldBack | None:
        """A listener that verifies clients against the system roots (no tlscacert) stays: removing it cuts its
        clients off, and their CA is not harden's to choose. 2.7 and REM-TCP stay failing, named here."""
        eff, failing = self.view.effective, {"2.7", "REM-TCP"} & self.view.failing
        if remove_tcp or not failing or not eff.tls.verify or eff.tls.ca is not None:
            return None
        listeners = ", ".join(e.written for e in eff.tcp_exposures)
        return HeldBack(
            "tlscacert",
            f"{listeners} requires client certificates but trusts every public CA "
            f"(no tlscacert): {' and '.join(sorted(failing))} stay failing; harden neither "
            "cuts its clients off nor chooses their CA",
            "set tlscacert (daemon.json or --tlscacert) to the CA that signs your clients' certificates",
        )

    def _impacts(self, merge: Merge, held_entries: dict[str, HeldBack]) -> None:
        view = self.view
        if "userns-remap" in merge.written:
            self.impacts += impacts.userns_impacts(view, held=False)
        elif "userns-remap" in held_entries:
            self.impacts += impacts.userns_impacts(view, held=True)
        self.impacts += impacts.setting_impacts(set(merge.written), merge.settings)
        forward = impacts.ip_forward_impact(view)
        if forward:
            self.impacts.append(forward)

    def _explain(self, problem) -> str:
        """A problem of the planned configuration, cited where it is on the host now when it is already there."""
        before = next((p for p in self.view.effective.problems if _same_problem(p, problem)), None)
        if before is not None:
            return f"{before.message} (already on the host; fix it first)"
        return f"{problem.message} (caused by this plan: please report it)"

    def _validated(self, draft: Plan) -> Plan:
        """Apply the plan to a copy of the facts: dockerd must accept the result; list what stays failing."""
        if draft.empty:
            post_view = self.view
        else:
            post = simulated(self.view.facts, draft)
            post_view = HostView(post, self.view.policy, self.view.groups, self.view.today, fixable_only=True)
        restarts = {"restart-docker", "reload-docker"} & set(draft.action_kinds())
        fatal = post_view.effective.fatal_problems if not draft.empty else []
        if restarts and fatal:
            return Plan(
                draft.host,
                refused="after this plan dockerd would refuse its configuration, so harden does "
                "not restart it: " + "; ".join(self._explain(p) for p in fatal),
                notes=draft.notes,
            )
        fixable = {i for i, r in post_view.results.items() if r.check.fixable}
        still = tuple(sorted(fixable & post_view.failing, key=_order))
        return Plan(draft.host, draft.changes, draft.actions, draft.impacts, draft.held_back, None, draft.notes, still)


def _images_text(images: tuple[str, ...]) -> str:
    return "every tagged image" if images == (ALL_IMAGES,) else ", ".join(images)


def _same_problem(a, b) -> bool:
    return (
        a.kind == b.kind
        and getattr(a, "key", None) == getattr(b, "key", None)
        and getattr(a, "arg", None) == getattr(b, "arg", None)
    )


def _order(check_id: str) -> tuple:
    parts = check_id.split(".")
    return (0, tuple(int(p) for p in parts)) if all(p.isdigit() for p in parts) else (1, (check_id,))
