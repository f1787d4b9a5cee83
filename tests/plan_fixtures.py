"""Captured lab facts, and small variations of them, for the plan tests.

Variations edit the files a real host would have (unit files, /etc/default/docker,
daemon.json) and re-derive what systemd would show from them, so a test reads
like the host it describes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from remediate.facts.model import CommandFact, FileFact, HostFacts
from remediate.plan.simulate import copy_facts, refresh_units
from remediate.policy import policy_for

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
SCENARIOS = sorted(p.stem for p in FIXTURES.glob("*.json"))
DEBIAN_UNIT = "/lib/systemd/system/docker.service"
DEBIAN_EXEC = "ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"


def load(name: str) -> HostFacts:
    return HostFacts.load(FIXTURES / f"{name}.json")


def policy(**host_vars):
    return policy_for(host_vars)


def with_file(
    facts: HostFacts, path: str, content: bytes | None, mode: int = 0o644, owner: str = "root", group: str = "root"
) -> HostFacts:
    facts = copy_facts(facts)
    if content is None:
        facts.files[path] = FileFact(path=path, kind="missing")
    else:
        facts.files[path] = FileFact(
            path=path,
            kind="file",
            mode=mode,
            uid=0,
            gid=0,
            owner=owner,
            group=group,
            size=len(content),
            content=content,
        )
    refresh_units(facts)
    return facts


def with_daemon_json(facts: HostFacts, settings: dict | bytes) -> HostFacts:
    content = settings if isinstance(settings, bytes) else json.dumps(settings, indent=2).encode() + b"\n"
    return with_file(facts, "/etc/docker/daemon.json", content)


def with_exec_start(facts: HostFacts, exec_start: str) -> HostFacts:
    """The Debian unit with another ExecStart= line (e.g. extra flags)."""
    text = facts.file(DEBIAN_UNIT).text()
    assert DEBIAN_EXEC in text
    return with_file(facts, DEBIAN_UNIT, text.replace(DEBIAN_EXEC, exec_start).encode())


def with_docker_opts(facts: HostFacts, line: str) -> HostFacts:
    """/etc/default/docker with one more line (e.g. DOCKER_OPTS="...")."""
    text = facts.file("/etc/default/docker").content
    return with_file(facts, "/etc/default/docker", text + line.encode() + b"\n")


def with_command(facts: HostFacts, name: str, stdout: str, rc: int = 0) -> HostFacts:
    facts = copy_facts(facts)
    facts.commands[name] = CommandFact(rc, stdout)
    return facts


def with_service(facts: HostFacts, **changes) -> HostFacts:
    """docker.service as systemd reports it, with typed fields changed (facts.typed.Unit)."""
    facts = copy_facts(facts)
    facts.parsed = replace(facts.parsed, service=replace(facts.parsed.service, **changes))
    return facts


def with_info(facts: HostFacts, **fields) -> HostFacts:
    info = json.loads(facts.command("docker_info").stdout)
    info.update(fields)
    return with_command(facts, "docker_info", json.dumps(info))


def with_version(facts: HostFacts, version: str) -> HostFacts:
    return with_command(facts, "dockerd_version", f"Docker version {version}, build 0000000\n")
