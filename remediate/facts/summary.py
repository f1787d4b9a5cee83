"""A one-line view of a host's Docker state, derived from its facts (for status tables)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediate.facts import parse
from remediate.facts.gather import daemon_json_path
from remediate.facts.model import HostFacts


@dataclass(frozen=True)
class DockerSummary:
    docker_state: str
    version: str | None
    daemon_json: str
    tcp: str
    containers: int


def summarize(facts: HostFacts) -> DockerSummary:
    service = parse.systemctl_show(facts.command("service").stdout)
    match = re.search(r"version ([^,\s]+)", facts.command("dockerd_version").stdout)
    daemon = facts.file(daemon_json_path(facts))
    daemon_state = "absent" if not daemon.exists else f"{daemon.mode_octal()} {daemon.size}B"
    tcp = ",".join(
        f"{l.address}:{l.port}"
        for l in parse.ss_listeners(facts.command("listeners").stdout)
        if "dockerd" in l.process or ("systemd" in l.process and l.port != 22)
    )
    containers = len(parse.json_lines(facts.command("containers").stdout))
    return DockerSummary(
        service.get("ActiveState", "unknown"), match.group(1) if match else None, daemon_state, tcp, containers
    )
