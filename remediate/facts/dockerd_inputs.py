"""From gathered facts to the plain inputs of the dockerd model (remediate.dockerd)."""

from __future__ import annotations

import re

from remediate.facts import parse, units
from remediate.facts.gather import daemon_json_path
from remediate.facts.model import HostFacts


def dockerd_inputs(facts: HostFacts):
    from remediate.dockerd.inputs import DockerdInputs

    service = parse.systemctl_show(facts.command("service").stdout)
    socket = parse.systemctl_show(facts.command("socket").stdout)
    version = re.search(r"version ([^,\s]+)", facts.command("dockerd_version").stdout)
    config_path = daemon_json_path(facts)
    daemon = facts.file(config_path)
    service_files = parse.unit_files(service)
    socket_files = parse.unit_files(socket)
    cmdline = [w for w in facts.command("dockerd_cmdline").stdout.split("\n") if w]
    return DockerdInputs(
        version=version.group(1) if version else None,
        daemon_json_path=config_path,
        daemon_json=daemon.content if daemon.kind in ("file", "symlink") else None,
        daemon_json_unread=_unread(daemon),
        exec_start=_exec_start(facts, service, service_files),
        exec_start_source=_last_setting(facts, service_files, "ExecStart") or service.get("FragmentPath", ""),
        environment=parse.environment(service.get("Environment", "")),
        environment_files={
            path: facts.file(path).content
            for path, _optional in parse.environment_files(service.get("EnvironmentFiles", ""))
        },
        socket_listen=parse.socket_listen(socket),
        socket_listen_source=_last_setting(facts, socket_files, "ListenStream") or socket.get("FragmentPath", ""),
        live_cmdline=cmdline or None,
        live_info=parse.docker_info(facts.command("docker_info")),
        active_state=service.get("ActiveState", "unknown"),
        journal_tail=facts.command("journal").stdout,
    )


def _unread(fact) -> str | None:
    """Why an existing daemon.json has no bytes in the facts ("dir", "other", or the read error)."""
    if fact.kind == "missing" or (fact.kind in ("file", "symlink") and fact.content is not None):
        return None
    if fact.kind in ("dir", "other", "socket"):
        return "dir" if fact.kind == "dir" else "other"
    return fact.error or "no content gathered"


def _exec_start(facts: HostFacts, service: dict[str, str], service_files: list[str]) -> list[str]:
    """ExecStart as systemd has it loaded, with the unit files' quoting when they say the same thing.

    systemctl show joins argv[] without quotes (`"--label=a b"` reads back as two words); the unit files
    keep them, but after an edit without daemon-reload they are not what systemd runs.
    """
    from remediate.dockerd.systemd import exec_start_prefixes, split_words

    shown = parse.exec_start_commands(service.get("ExecStart", ""))
    written = units.exec_start(facts, service_files)
    if written is None or len(written) != len(shown):
        return shown

    def unquoted(command: str) -> str:
        words = split_words(command)
        return " ".join([exec_start_prefixes(words[0])[1], *words[1:]] if words else [])

    return written if all(unquoted(w) == s for w, s in zip(written, shown)) else shown


def _last_setting(facts: HostFacts, paths: list[str], key: str) -> str | None:
    """The last unit file (fragment, then drop-ins in order) that sets `key` to something non-empty."""
    found = None
    for path in paths:
        for line in parse.lines(facts.file(path).text() or ""):
            name, sep, value = line.strip().partition("=")
            if sep and name.strip() == key and value.strip():
                found = path
    return found


def effective_config(facts: HostFacts):
    """The host's effective dockerd configuration (pure, from facts)."""
    from remediate.dockerd import EffectiveConfig

    return EffectiveConfig.build(dockerd_inputs(facts))
