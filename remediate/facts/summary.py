"""A one-line view of a host's Docker state, derived from its facts (for status tables)."""

from __future__ import annotations

from dataclasses import dataclass

from remediate.facts.dockerd_inputs import daemon_json_path
from remediate.facts.model import HostFacts


@dataclass(frozen=True)
class DockerSummary:
    docker_state: str
    version: str | None
    daemon_json: str
    tcp: str
    containers: int


def summarize(facts: HostFacts) -> DockerSummary:
    parsed = facts.parsed
    daemon = facts.file(daemon_json_path(facts))
    daemon_state = "absent" if not daemon.exists else f"{daemon.mode_octal()} {daemon.size}B"
    tcp = ",".join(
        f"{listener.address}:{listener.port}"
        for listener in parsed.listeners
        if "dockerd" in listener.process or ("systemd" in listener.process and listener.port != 22)
    )
    return DockerSummary(
        parsed.service.active_state, parsed.dockerd_version.version, daemon_state, tcp, len(parsed.containers.items)
    )
