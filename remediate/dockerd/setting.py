"""One effective setting: its value, where it was set, and by what means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .problems import Source


@dataclass(frozen=True)
class Setting:
    """origin: default (dockerd's built-in value), file (daemon.json), flag (the
    command line) or environment (a DOCKER_* variable dockerd reads, DOCKER_TLS_VERIFY)."""

    value: Any
    source: Source | None
    origin: str

    def to_dict(self) -> dict:
        return {"value": self.value, "origin": self.origin, "source": self.source.to_dict() if self.source else None}
