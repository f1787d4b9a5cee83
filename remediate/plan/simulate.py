"""The facts a host would show after a plan is applied: pure, for validation and idempotence tests.

apply_plan(facts, plan) writes the plan's new bytes, modes and owners into a
copy of the facts, re-derives what systemd would load (docker.service's
ExecStart and drop-ins, docker.socket's Listen/SocketMode/...) from the unit
files, and plays the actions: after restart-docker the running command line,
`docker info` and the socket file follow the new configuration (userns-remap
hides the old images and containers), after reload-docker the reloadable
settings do, after load-audit-rules the kernel holds the rules files' watches.

It edits typed facts (remediate.facts.typed, with dataclasses.replace) and writes no command output:
it is a model of what the host would report, not a prediction of every detail.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

from remediate.dockerd.systemd import exec_start_prefixes, split_words
from remediate.facts.model import FileFact, HostFacts
from remediate.facts.typed import Containers, Unit
from remediate.plan.model import FileChange, Plan
from remediate.plan.view import unit_lines

_UNIT_DIRS = {"docker.service": ".service.d/", "docker.socket": ".socket.d/"}


def copy_facts(facts: HostFacts) -> HostFacts:
    return facts.copy()


def _write(facts: HostFacts, change: FileChange) -> None:
    old = facts.file(change.path)
    if change.kind == "file" and change.after is None and not change.metadata_only:
        facts.files[change.path] = FileFact(path=change.path, kind="missing")
        return
    uid = 0 if change.owner == "root" else (old.uid if old.owner == change.owner else None)
    gid = 0 if change.group == "root" else (old.gid if old.group == change.group else None)
    if change.metadata_only:  # chmod/chown: the path keeps its kind and the bytes the facts hold
        facts.files[change.path] = replace(
            old, mode=change.mode, uid=uid, gid=gid, owner=change.owner, group=change.group
        )
    else:
        content = change.after
        facts.files[change.path] = FileFact(
            path=change.path,
            kind="file",
            mode=change.mode,
            uid=uid,
            gid=gid,
            owner=change.owner,
            group=change.group,
            size=len(content) if content is not None else old.size,
            content=content,
        )


def _drop_ins(facts: HostFacts, unit: str, current: list[str]) -> list[str]:
    """The unit's drop-ins after the plan: the known ones still present plus new files in /etc/systemd/system."""
    found = {p for p in current if facts.file(p).exists}
    prefix = f"/etc/systemd/system/{unit}.d/"
    found |= {p for p, f in facts.files.items() if p.startswith(prefix) and p.endswith(".conf") and f.exists}
    return sorted(found, key=lambda p: (os.path.basename(p), p))


def _unit_values(facts: HostFacts, paths: list[str], section: str, key: str) -> list[str]:
    values: list[str] = []
    for path in paths:
        for entry in unit_lines(path, facts.file(path).text() or ""):
            if entry.section == section and entry.key == key:
                values = [*values, entry.value] if entry.value else []
    return values


def _environment(facts: HostFacts, paths: list[str]) -> dict[str, str] | None:
    """docker.service's Environment= from its unit files (None: no file sets any, keep systemd's)."""
    lines = [
        e
        for path in paths
        for e in unit_lines(path, facts.file(path).text() or "")
        if e.section == "Service" and e.key == "Environment"
    ]
    if not lines:
        return None
    env: dict[str, str] = {}
    for entry in lines:
        if not entry.value:
            env = {}
        for word in split_words(entry.value):
            key, sep, value = word.partition("=")
            if sep:
                env[key] = value
    return env


def _listen(value: str) -> str:
    """A ListenStream= value as systemd reports the socket's listener: a bare port listens on every address."""
    return f"[::]:{value}" if value.isdigit() else value


def _refresh_service(facts: HostFacts, service: Unit, paths: list[str]) -> Unit:
    entries = _unit_values(facts, paths, "Service", "ExecStart")
    if entries:
        words = split_words(re.sub(r"\\\n", " ", entries[-1]))
        binary = exec_start_prefixes(words[0])[1] if words else ""
        service = replace(service, exec_start=tuple(entries), exec_paths=(binary,) * len(entries))
    environment = _environment(facts, paths)
    return service if environment is None else replace(service, environment=environment)


def _refresh_socket(facts: HostFacts, socket: Unit, paths: list[str]) -> Unit:
    def last(key: str, default: str) -> str:
        found = _unit_values(facts, paths, "Socket", key)
        return found[-1] if found else default

    return replace(
        socket,
        listen=tuple(_listen(v) for v in _unit_values(facts, paths, "Socket", "ListenStream")),
        socket_mode=last("SocketMode", "0666"),
        socket_user=last("SocketUser", ""),
        socket_group=last("SocketGroup", ""),
    )


def refresh_units(facts: HostFacts) -> None:
    """Re-derive docker.service's and docker.socket's typed facts (drop-ins, ExecStart, Environment, Listen,
    socket owner and mode) from their files, as systemd would load them."""
    parsed = facts.parsed
    units = {}
    for name, unit, refresh in (
        ("docker.service", parsed.service, _refresh_service),
        ("docker.socket", parsed.socket, _refresh_socket),
    ):
        if not unit.known:
            units[name] = unit
            continue
        unit = replace(unit, drop_ins=tuple(_drop_ins(facts, name, list(unit.drop_ins))))
        units[name] = refresh(facts, unit, unit.files)
    facts.parsed = replace(parsed, service=units["docker.service"], socket=units["docker.socket"])


def _security_options(effective) -> list[str]:
    modern = effective.version_tuple is None or effective.version_tuple[0] >= 23
    profile = effective.value("seccomp-profile") or ("builtin" if modern else "default")
    label = profile if profile in ("default", "builtin", "unconfined") else ("custom" if modern else profile)
    options = [f"name=seccomp,profile={label}"]
    if effective.value("userns-remap"):
        options.append("name=userns")
    return options


def _running_info(facts: HostFacts, effective, *, restarted: bool) -> dict:
    # A down dockerd answered nothing (typed.Parsed.docker_info is None): start from scratch, with an ID, as a
    # daemon that answers reports one.
    info = dict(facts.parsed.docker_info or {}) or {
        "ID": "(simulated)",
        "ServerVersion": effective.version,
        "Images": 0,
        "Containers": 0,
        "ContainersRunning": 0,
        "Swarm": {"LocalNodeState": "inactive"},
    }
    info["Debug"] = effective.value("debug") is True
    info["LiveRestoreEnabled"] = effective.value("live-restore") is True
    mirrors = [m for m in effective.value("registry-mirrors") or [] if isinstance(m, str)]
    insecure = [r for r in effective.value("insecure-registries") or [] if isinstance(r, str)]
    info["RegistryConfig"] = {
        "InsecureRegistryCIDRs": ["127.0.0.0/8"] + [r for r in insecure if "/" in r],
        "IndexConfigs": {r: {"Name": r, "Secure": False} for r in insecure if "/" not in r},
        "Mirrors": mirrors,
    }
    if restarted:
        info["ExperimentalBuild"] = effective.value("experimental") is True
        info["LoggingDriver"] = effective.value("log-driver")
        remapped_before = any(str(o).startswith("name=userns") for o in info.get("SecurityOptions") or [])
        info["SecurityOptions"] = _security_options(effective)
        if effective.value("userns-remap") and not remapped_before:
            # the remapped daemon keeps its images and containers in <data-root>/<uid>.<gid>: it sees none
            info.update(
                Images=0,
                Containers=0,
                ContainersRunning=0,
                ContainersStopped=0,
                ContainersPaused=0,
                DockerRootDir="/var/lib/docker/165536.165536",
            )
    return info


def _restart(facts: HostFacts, socket_restarted: bool) -> None:
    from remediate.facts.dockerd_inputs import effective_config

    parsed = facts.parsed
    was_active = parsed.service.active_state == "active"
    effective = effective_config(facts)
    service = replace(parsed.service, active_state="active", sub_state="running", result="success")
    argv0 = service.exec_paths[-1] if service.exec_paths else "/usr/sbin/dockerd"
    info = _running_info(facts, effective, restarted=True)
    changes: dict = {
        "service": service,
        "dockerd_cmdline": (argv0, *(a.text for a in effective.argv)),
        "docker_info": info,
    }
    if info.get("Containers") == 0:
        changes["containers"] = Containers(listed=True)
    if effective.value("userns-remap") == "default":
        changes["dockremap_user"] = True
    if not was_active and parsed.ip_forward == "0" and effective.value("ip-forward") is not False:
        changes["ip_forward"] = "1"
    facts.parsed = replace(parsed, **changes)
    socket = parsed.socket
    if socket_restarted or not was_active:
        for entry in socket.listen:
            if not entry.startswith("/"):
                continue
            paths = {entry, "/var/run" + entry[4:]} if entry.startswith("/run/") else {entry}
            for path in paths:
                old = facts.file(path)
                facts.files[path] = FileFact(
                    path=path,
                    kind="socket",
                    mode=int(socket.socket_mode or "0666", 8),
                    owner=socket.socket_user or "root",
                    group=socket.socket_group or "root",
                    size=0,
                    uid=0,
                    gid=old.gid,
                )


def _reload(facts: HostFacts) -> None:
    from remediate.facts.dockerd_inputs import effective_config

    info = _running_info(facts, effective_config(facts), restarted=False)
    facts.parsed = replace(facts.parsed, docker_info=info)


def _load_rules(facts: HostFacts) -> None:
    """The kernel holds what the rules.d files say (augenrules --load)."""
    rules = [
        line.strip()
        for path, fact in sorted(facts.files.items())
        if path.startswith("/etc/audit/rules.d/") and path.endswith(".rules")
        for line in (fact.text() or "").split("\n")
        if line.strip() and not line.lstrip().startswith("#")
    ]
    auditctl = replace(facts.parsed.auditctl, answered=True, rules=tuple(rules) or None)
    facts.parsed = replace(facts.parsed, auditctl=auditctl)


def apply_plan(facts: HostFacts, plan: Plan) -> HostFacts:
    """A copy of `facts` as the host would look once `plan` is applied and its actions have run."""
    new = copy_facts(facts)
    for change in plan.changes:
        _write(new, change)
    refresh_units(new)
    restart = next((a for a in plan.actions if a.kind == "restart-docker"), None)
    if restart is not None:
        _restart(new, socket_restarted="docker.socket" in restart.units)
    elif "reload-docker" in plan.action_kinds():
        _reload(new)
    if "load-audit-rules" in plan.action_kinds() and new.parsed.auditctl.present:
        _load_rules(new)
    return new


def simulated(facts: HostFacts, plan: Plan) -> HostFacts:
    """apply_plan, once per facts and plan: the planner checks the simulated host and validation asks the host
    about it, from the same copy (and its effective configuration, built once). Shared: read it, never edit it."""
    done = facts.derived("simulated", lambda _facts: [])
    for changes, actions, post in done:
        if changes == plan.changes and actions == plan.actions:
            return post
    post = apply_plan(facts, plan)
    done.append((plan.changes, plan.actions, post))
    return post
