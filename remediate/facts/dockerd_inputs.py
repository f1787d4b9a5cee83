"""From typed facts to the plain inputs of the dockerd model (remediate.dockerd), and daemon.json's path.

Reads only typed facts (HostFacts.parsed) and file contents: command output was parsed at gather time.
"""

from __future__ import annotations

from remediate.facts import units
from remediate.facts.model import FileFact, HostFacts
from remediate.facts.typed import Unit

DEFAULT_CONFIG = "/etc/docker/daemon.json"


def dockerd_inputs(facts: HostFacts):
    """What the dockerd model reads of these facts, derived once while they stay as they are (HostFacts.derived)."""
    return facts.derived("dockerd_inputs", _dockerd_inputs)


def _dockerd_inputs(facts: HostFacts):
    from remediate.dockerd.inputs import DockerdInputs

    parsed = facts.parsed
    service, socket = parsed.service, parsed.socket
    config_path = daemon_json_path(facts)
    daemon = facts.file(config_path)
    return DockerdInputs(
        version=parsed.dockerd_version.version,
        daemon_json_path=config_path,
        daemon_json=daemon.content if daemon.kind in ("file", "symlink") else None,
        daemon_json_unread=_unread(daemon),
        exec_start=exec_start(facts, service),
        exec_start_source=_last_setting(facts, service, "ExecStart") or service.fragment_path,
        environment=dict(service.environment),
        environment_files=_environment_files(facts, service),
        socket_listen=list(socket.listen),
        socket_listen_source=_last_setting(facts, socket, "ListenStream") or socket.fragment_path,
        live_cmdline=list(parsed.dockerd_cmdline) if parsed.dockerd_cmdline else None,
        live_info=parsed.docker_info,
        active_state=service.active_state,
        journal=parsed.journal,
    )


def _environment_files(facts: HostFacts, service: Unit) -> dict[str, bytes | None]:
    return {path: facts.file(path).content for path, _optional in service.environment_files}


def _unread(fact: FileFact) -> str | None:
    """Why an existing daemon.json has no bytes in the facts ("dir", "other", or the read error)."""
    if fact.kind == "missing" or (fact.kind in ("file", "symlink") and fact.content is not None):
        return None
    if fact.kind in ("dir", "other", "socket"):
        return "dir" if fact.kind == "dir" else "other"
    return fact.error or "no content gathered"


def exec_start(facts: HostFacts, service: Unit) -> list[str]:
    """ExecStart as systemd has it loaded, with the unit files' quoting when they say the same thing.

    systemctl show joins argv[] without quotes (`"--label=a b"` reads back as two words); the unit files
    keep them, but after an edit without daemon-reload they are not what systemd runs.
    """
    from remediate.dockerd.systemd import exec_start_prefixes, split_words

    shown = list(service.exec_start)
    written = units.exec_start(facts, service.files)
    if written is None or len(written) != len(shown):
        return shown

    def unquoted(command: str) -> str:
        words = split_words(command)
        return " ".join([exec_start_prefixes(words[0])[1], *words[1:]] if words else [])

    return written if all(unquoted(w) == s for w, s in zip(written, shown, strict=True)) else shown


def _last_setting(facts: HostFacts, unit: Unit, key: str) -> str | None:
    """The last unit file (fragment, then drop-ins in order) that sets `key` to something non-empty."""
    found = None
    for path in unit.files:
        if any(line.key == key and line.value for line in units.unit_lines(path, facts.file(path).text() or "")):
            found = path
    return found


def _config_file(words: list[str]) -> str | None:
    """The last --config-file among dockerd's arguments."""
    found = None
    for i, word in enumerate(words):
        if word.startswith("--config-file="):
            found = word.partition("=")[2]
        elif word == "--config-file" and i + 1 < len(words):
            found = words[i + 1]
    return found


def daemon_json_path(facts: HostFacts) -> str:
    """The daemon.json dockerd reads: --config-file as docker.service's command gives it (split by systemd's
    rules, its variables expanded, as the dockerd model reads it), else as the running dockerd was started with
    it, else the default. The one place it is derived: gather reads this file, the model analyses it."""
    from remediate.dockerd.systemd import resolve_environment, systemd_command

    service = facts.parsed.service
    env, _problems = resolve_environment(dict(service.environment), _environment_files(facts, service))
    command = systemd_command(exec_start(facts, service), service.fragment_path, env)
    unit_words = [arg.text for arg in command.args] if command.is_dockerd else []
    live = list(facts.parsed.dockerd_cmdline or ())[1:]
    return _config_file(unit_words) or _config_file(live) or DEFAULT_CONFIG


def effective_config(facts: HostFacts):
    """The host's effective dockerd configuration (pure, from facts): the one place it is built, once while the
    facts stay as they are (the checks, the planner and validation all read it; a simulated copy builds its own)."""
    from remediate.dockerd import EffectiveConfig

    return facts.derived("effective", lambda f: EffectiveConfig.build(dockerd_inputs(f)))
