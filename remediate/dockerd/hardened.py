"""The daemon.json keys remediate hardens, read once from data/hardened.yml.

That table is the one place a key's wanted value lives: the default policy's
`daemon:` values, the planner's key -> checks map, the catalogue's `fixable`
and the audit's expectations of the simple checks all come from here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from remediate.dockerd.options import RELOADABLE

_FIELDS = {"wanted", "checks", "audit", "since", "policy"}
_AUDITS = ("equal", "predicate")


@dataclass(frozen=True)
class Hardened:
    """One key: the value harden writes (None: dockerd's default), the checks it decides, how the audit
    judges it (equal, predicate, or the one value it must not have), the oldest engine line that knows it,
    and whether the policy gives its value."""

    key: str
    wanted: Any
    checks: tuple[str, ...]
    audit: str
    since: str
    policy: bool = True
    refused: Any = None  # audit "not": the value that fails the check

    @property
    def reloadable(self) -> bool:
        """A SIGHUP reload applies a change of it (else dockerd must restart): options.RELOADABLE decides."""
        return self.key in RELOADABLE

    @property
    def wanted_copy(self) -> Any:
        return copy.deepcopy(self.wanted)


@cache
def table() -> dict[str, Hardened]:
    """Every hardened key, in the table's order."""
    text = resources.files(__package__).joinpath("data/hardened.yml").read_text("utf-8")
    raw = yaml.safe_load(text)
    out = {}
    for key, spec in raw.items():
        unknown = set(spec) - _FIELDS
        if unknown:
            raise ValueError(f"hardened.yml {key}: unknown fields {sorted(unknown)}")
        audit, refused = spec["audit"], None
        if isinstance(audit, dict):
            [(audit, refused)] = audit.items()
        if audit not in (*_AUDITS, "not"):
            raise ValueError(f"hardened.yml {key}: audit must be equal, predicate or {{not: VALUE}}")
        policy = spec.get("policy", True)
        if policy != ("wanted" in spec):
            raise ValueError(f"hardened.yml {key}: a key has a wanted value exactly when the policy gives it")
        out[key] = Hardened(
            key,
            spec.get("wanted"),
            tuple(str(c) for c in spec["checks"]),
            audit,
            str(spec["since"]),
            policy,
            refused,
        )
    return out


def wanted(key: str) -> Any:
    """The value harden writes for key by default (a private copy)."""
    return table()[key].wanted_copy


def policy_defaults() -> dict[str, Any]:
    """The `daemon:` mapping every profile starts from."""
    return {key: entry.wanted_copy for key, entry in table().items() if entry.policy}


def key_checks() -> dict[str, tuple[str, ...]]:
    """daemon.json key -> the checks its value decides (what a change of that key fixes)."""
    return {key: entry.checks for key, entry in table().items()}


def fixed_checks() -> frozenset[str]:
    """The checks a daemon.json change fixes: fixable in the catalogue."""
    return frozenset(c for entry in table().values() for c in entry.checks)
