"""The loaded inventory: immutable hosts and groups, with their vars already merged.

Vars are data, never templates: a value such as "{{ lookup('pipe','id') }}" is the
literal string the inventory contains, and nothing in remediate evaluates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from remediate.errors import InventoryError
from remediate.inventory import patterns


@dataclass(frozen=True)
class Host:
    """One managed machine with its effective vars (Ansible precedence already applied)."""

    name: str
    vars: Mapping[str, Any] = field(hash=False)
    groups: tuple[str, ...] = ()
    """Every group the host belongs to, ancestors and "all" included, sorted."""

    def var(self, name: str, default: Any = None) -> Any:
        return self.vars.get(name, default)


@dataclass(frozen=True)
class Group:
    """A group as declared; `vars` are its own (inline, then group_vars/ files)."""

    name: str
    children: tuple[str, ...]
    parents: tuple[str, ...]
    hosts: tuple[str, ...]
    """Hosts declared directly in this group, not those of its children."""
    vars: Mapping[str, Any] = field(hash=False)
    depth: int = 0
    priority: int = 1


@dataclass(frozen=True)
class Inventory:
    """Hosts in the order the file declares them, and every group by name."""

    source: Path
    hosts: Mapping[str, Host]
    groups: Mapping[str, Group]

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible host pattern; raises rather than selecting nothing."""
        return patterns.select(self, pattern)

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise InventoryError(f"no host named {name!r} in {self.source}{self.suggest(name)}") from None

    def suggest(self, name: str) -> str:
        """A "did you mean" hint built from the known host and group names."""
        close = get_close_matches(name, [*self.hosts, *self.groups], n=3)
        if close:
            return "; did you mean " + ", ".join(close) + "?"
        return "; known groups: " + ", ".join(sorted(self.groups))
