"""The facts a host would show after a plan is applied: pure, for validation and idempotence tests.

apply_plan(facts, plan) writes the plan's new bytes, modes and owners into a
copy of the facts, re-derives what systemd would show (docker.service's
ExecStart and drop-ins, docker.socket's Listen/SocketMode/...) from the unit
files, and plays the actions: after restart-docker the running command line,
`docker info` and the socket file follow the new configuration (userns-remap
hides the old images and containers), after reload-docker the reloadable
settings do, after load-audit-rules the kernel holds the rules files' watches.

It is a model, not a prediction of every detail: `systemctl show` values are
rendered in the shape remediate's parsers read, not byte for byte.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace

from remediate.dockerd.systemd import exec_start_prefixes, split_words
from remediate.facts import parse
from remediate.facts.model import CommandFact, FileFact, HostFacts
from remediate.plan.model import FileChange, Plan
from remediate.plan.view import unit_lines

_UNIT_DIRS = {"docker.service": ".service.d/", "docker.socket": ".socket.d/"}


def copy_facts(facts: HostFacts) -> HostFacts:
    return HostFacts.from_json(json.loads(json.dumps(facts.to_json())))


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


def _props(text: str) -> list[tuple[str, str]]:
    return [(k, v) for line in text.splitlines() for k, sep, v in [line.partition("=")] if sep]


def _render_props(props: list[tuple[str, str]]) -> str:
    return "".join(f"{k}={v}\n" for k, v in props)


def _set(props: list[tuple[str, str]], key: str, values: list[str]) -> list[tuple[str, str]]:
    """Replace every `key` line by `values` (one line each), at the first line's place."""
    out, done = [], False
    for k, v in props:
        if k == key:
            if not done:
                out += [(key, value) for value in values]
                done = True
            continue
        out.append((k, v))
    if not done:
        out += [(key, value) for value in values]
    return out


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
                values = values + [entry.value] if entry.value else []
    return values


def _shown(word: str) -> str:
    """A word as systemctl prints it in Environment= (shell_maybe_quote; what parse.environment reads)."""
    if word and not any(ord(c) < 32 or ord(c) == 127 or c in " \t\n\r\"\\`$*?['()<>|&;!" for c in word):
        return word
    return (
        '"'
        + "".join(
            "\\" + c if c in '"\\`$' else (f"\\{ord(c):03o}" if ord(c) < 32 or ord(c) == 127 else c) for c in word
        )
        + '"'
    )


def _environment(facts: HostFacts, paths: list[str]) -> str | None:
    """docker.service's Environment= property from its unit files (None: no file sets any, keep systemd's)."""
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
    return " ".join(_shown(f"{k}={v}") for k, v in env.items())


def _listen_text(value: str) -> str:
    if value.startswith("/"):
        return f"{value} (Stream)"
    if value.isdigit():
        return f"[::]:{value} (Stream)"
    return f"{value} (Stream)"


def refresh_units(facts: HostFacts) -> None:
    """Re-derive docker.service's and docker.socket's `systemctl show` output from their files."""
    for unit, name in (("docker.service", "service"), ("docker.socket", "socket")):
        command = facts.command(name)
        if command.missing:
            continue
        props = _props(command.stdout)
        values = dict(props)
        drop_ins = _drop_ins(facts, unit, values.get("DropInPaths", "").split())
        props = _set(props, "DropInPaths", [" ".join(drop_ins)])
        paths = [p for p in [values.get("FragmentPath", "")] + drop_ins if p]
        if unit == "docker.service":
            entries = _unit_values(facts, paths, "Service", "ExecStart")
            if entries:
                words = split_words(re.sub(r"\\\n", " ", entries[-1]))
                binary = exec_start_prefixes(words[0])[1] if words else ""
                props = _set(
                    props,
                    "ExecStart",
                    [
                        " ".join(
                            f"{{ path={binary} ; argv[]={entry} ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; "
                            "pid=0 ; code=(null) ; status=0/0 }"
                            for entry in entries
                        )
                    ],
                )
            environment = _environment(facts, paths)
            if environment is not None:
                props = (
                    _set(props, "Environment", [environment])
                    if "Environment" in values
                    else props + [("Environment", environment)]
                )
        else:
            listen = _unit_values(facts, paths, "Socket", "ListenStream")
            props = _set(props, "Listen", [_listen_text(v) for v in listen])
            for key, default in (("SocketMode", "0666"), ("SocketUser", ""), ("SocketGroup", "")):
                found = _unit_values(facts, paths, "Socket", key)
                props = _set(props, key, [found[-1] if found else default])
        facts.commands[name] = CommandFact(command.rc, _render_props(props), command.stderr)


def _security_options(effective) -> list[str]:
    modern = effective.version_tuple is None or effective.version_tuple[0] >= 23
    profile = effective.value("seccomp-profile") or ("builtin" if modern else "default")
    label = profile if profile in ("default", "builtin", "unconfined") else ("custom" if modern else profile)
    options = [f"name=seccomp,profile={label}"]
    if effective.value("userns-remap"):
        options.append("name=userns")
    return options


def _running_info(facts: HostFacts, effective, *, restarted: bool) -> dict:
    # A down dockerd's client prints a zero-valued info (parse.docker_info): start from scratch, with an ID, as a
    # daemon that answers reports one.
    info = parse.docker_info(facts.command("docker_info")) or {
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
            info.update(
                Images=0,
                Containers=0,
                ContainersRunning=0,
                ContainersStopped=0,
                ContainersPaused=0,
                DockerRootDir="/var/lib/docker/165536.165536",
            )
    return info


def _restart(facts: HostFacts, plan: Plan, socket_restarted: bool) -> None:
    from remediate.facts.dockerd_inputs import effective_config

    was_active = parse.systemctl_show(facts.command("service").stdout).get("ActiveState") == "active"
    effective = effective_config(facts)
    service = _props(facts.command("service").stdout)
    for key, value in (("ActiveState", "active"), ("SubState", "running"), ("Result", "success"), ("MainPID", "4242")):
        service = _set(service, key, [value])
    facts.commands["service"] = CommandFact(0, _render_props(service))
    command = parse.exec_start_commands(parse.systemctl_show(facts.commands["service"].stdout).get("ExecStart", ""))
    argv0 = exec_start_prefixes(split_words(command[-1])[0])[1] if command else "/usr/sbin/dockerd"
    facts.commands["dockerd_cmdline"] = CommandFact(
        0, "".join(w + "\n" for w in [argv0] + [a.text for a in effective.argv])
    )
    info = _running_info(facts, effective, restarted=True)
    facts.commands["docker_info"] = CommandFact(0, json.dumps(info))
    if info.get("Containers") == 0:
        facts.commands["containers"] = CommandFact(0, "")
    if effective.value("userns-remap") == "default":
        facts.commands["dockremap_user"] = CommandFact(0, "dockremap:x:999:999::/nonexistent:/bin/false\n")
    if (
        not was_active
        and facts.command("ip_forward").stdout.strip() == "0"
        and effective.value("ip-forward") is not False
    ):
        facts.commands["ip_forward"] = CommandFact(0, "1\n")
    socket = parse.systemctl_show(facts.command("socket").stdout)
    if socket_restarted or not was_active:
        for entry in parse.socket_listen(socket):
            if not entry.startswith("/"):
                continue
            paths = {entry, "/var/run" + entry[4:]} if entry.startswith("/run/") else {entry}
            for path in paths:
                old = facts.file(path)
                facts.files[path] = FileFact(
                    path=path,
                    kind="socket",
                    mode=int(socket.get("SocketMode") or "0666", 8),
                    owner=socket.get("SocketUser") or "root",
                    group=socket.get("SocketGroup") or "root",
                    size=0,
                    uid=0,
                    gid=old.gid,
                )


def _reload(facts: HostFacts) -> None:
    from remediate.facts.dockerd_inputs import effective_config

    info = _running_info(facts, effective_config(facts), restarted=False)
    facts.commands["docker_info"] = CommandFact(0, json.dumps(info))


def _load_rules(facts: HostFacts) -> None:
    lines = []
    for path, fact in sorted(facts.files.items()):
        if path.startswith("/etc/audit/rules.d/") and path.endswith(".rules"):
            lines += [
                line.strip()
                for line in (fact.text() or "").splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ]
    facts.commands["auditctl"] = CommandFact(0, "".join(line + "\n" for line in lines) or "No rules\n")


def apply_plan(facts: HostFacts, plan: Plan) -> HostFacts:
    """A copy of `facts` as the host would look once `plan` is applied and its actions have run."""
    new = copy_facts(facts)
    for change in plan.changes:
        _write(new, change)
    refresh_units(new)
    restart = next((a for a in plan.actions if a.kind == "restart-docker"), None)
    if restart is not None:
        _restart(new, plan, socket_restarted="docker.socket" in restart.units)
    elif "reload-docker" in plan.action_kinds():
        _reload(new)
    if "load-audit-rules" in plan.action_kinds() and not new.command("auditctl").missing:
        _load_rules(new)
    return new
