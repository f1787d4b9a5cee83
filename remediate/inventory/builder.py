"""Collect what an inventory file declares, then resolve it into an Inventory.

Parsers only declare (groups, hosts, children, inline vars, each with the
file:line that declared it); this module owns the graph rules and Ansible's
variable precedence, so YAML and INI inventories cannot drift apart.

Precedence, lowest first, as Ansible's VariableManager applies it:
inline vars of "all", then of the host's other groups; group_vars/ files of
"all", then of the other groups; inline host vars; host_vars/ files. Groups
are ordered by (depth, ansible_group_priority, name), so a child beats its
parent, a higher priority beats a lower one, and among equals the later name
in alphabetical order wins. Dict values are replaced, never deep-merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from remediate.errors import InventoryError
from remediate.inventory.model import Group, Host, Inventory
from remediate.inventory.vars_files import load_vars

ROOT = "all"
UNGROUPED = "ungrouped"
PRIORITY_VAR = "ansible_group_priority"


@dataclass
class _GroupDecl:
    where: str
    children: dict[str, str] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1


@dataclass
class _HostDecl:
    where: str
    groups: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


class InventoryBuilder:
    def __init__(self, source: Path):
        self.source = source
        self._groups: dict[str, _GroupDecl] = {
            ROOT: _GroupDecl(str(source)),
            UNGROUPED: _GroupDecl(str(source)),
        }
        self._hosts: dict[str, _HostDecl] = {}

    def group(self, name: str, where: str) -> None:
        self._groups.setdefault(name, _GroupDecl(where))

    def child(self, parent: str, child: str, where: str) -> None:
        if child == ROOT:
            raise InventoryError(f"{where}: group {ROOT!r} cannot be a child of {parent!r}")
        self.group(child, where)
        self._groups[parent].children.setdefault(child, where)

    def host(self, name: str, group: str, values: dict[str, Any], where: str) -> None:
        """Declare a host in a group; repeated declarations add groups and merge vars."""
        declared = self._hosts.setdefault(name, _HostDecl(where))
        if group not in declared.groups:
            declared.groups.append(group)
            self._groups[group].hosts.append(name)
        declared.vars.update(values)

    def group_vars(self, name: str, values: dict[str, Any], where: str) -> None:
        values = dict(values)
        if PRIORITY_VAR in values:
            self._groups[name].priority = _priority(values.pop(PRIORITY_VAR), where)
        self._groups[name].vars.update(values)

    def build(self) -> Inventory:
        self._check_names_are_unambiguous()
        self._attach_orphans()
        parents = self._parents()
        depths = self._depths(parents)
        base = self.source.parent
        file_vars = {name: self._group_file_vars(base, name) for name in self._groups}
        groups = {
            name: Group(
                name=name,
                children=tuple(decl.children),
                parents=tuple(parents[name]),
                hosts=tuple(decl.hosts),
                vars=MappingProxyType({**decl.vars, **file_vars[name]}),
                depth=depths[name],
                priority=decl.priority,
            )
            for name, decl in self._groups.items()
        }
        hosts = {
            name: self._host(name, decl, groups, file_vars, load_vars(base, "host_vars", name))
            for name, decl in self._hosts.items()
        }
        return Inventory(self.source, MappingProxyType(hosts), MappingProxyType(groups))

    def _host(
        self,
        name: str,
        decl: _HostDecl,
        groups: dict[str, Group],
        file_vars: dict[str, dict[str, Any]],
        own_file_vars: dict[str, Any],
    ) -> Host:
        member_of = _ancestors(decl.groups, groups)
        ordered = sorted(member_of, key=lambda g: (groups[g].depth, groups[g].priority, g))
        merged: dict[str, Any] = {}
        for group in ordered:
            merged.update(self._groups[group].vars)
        for group in ordered:
            merged.update(file_vars[group])
        merged.update(decl.vars)
        merged.update(own_file_vars)
        return Host(name, MappingProxyType(merged), tuple(sorted(member_of)))

    def _group_file_vars(self, base: Path, name: str) -> dict[str, Any]:
        values = load_vars(base, "group_vars", name)
        if PRIORITY_VAR in values:
            raise InventoryError(
                f"{base / 'group_vars' / name}: {PRIORITY_VAR} only counts in the inventory file "
                "(Ansible ignores it in group_vars/); move it there"
            )
        return values

    def _check_names_are_unambiguous(self) -> None:
        for name, decl in self._hosts.items():
            if name in self._groups:
                raise InventoryError(
                    f"{decl.where}: {name!r} is both a host and a group "
                    f"(group declared at {self._groups[name].where}); host patterns would be ambiguous"
                )

    def _attach_orphans(self) -> None:
        """Ansible's reconciliation: top-level groups hang under "all", lone hosts go to "ungrouped"."""
        has_parent = {child for decl in self._groups.values() for child in decl.children}
        for name, decl in self._groups.items():
            if name != ROOT and name not in has_parent:
                self._groups[ROOT].children.setdefault(name, decl.where)
        ungrouped = self._groups[UNGROUPED]
        for name, host in self._hosts.items():
            real = [g for g in host.groups if g not in (ROOT, UNGROUPED)]
            if real and UNGROUPED in host.groups:
                host.groups.remove(UNGROUPED)
                ungrouped.hosts.remove(name)
            elif not real and UNGROUPED not in host.groups:
                host.groups.append(UNGROUPED)
                ungrouped.hosts.append(name)

    def _depths(self, parents: dict[str, list[str]]) -> dict[str, int]:
        """Longest distance from "all" (Ansible's group depth); refuses cycles."""
        waiting = {name: len(parents[name]) for name in self._groups}
        ready = [name for name, count in waiting.items() if count == 0]
        depths = dict.fromkeys(ready, 0)
        while ready:
            name = ready.pop()
            for child in self._groups[name].children:
                depths[child] = max(depths.get(child, 0), depths[name] + 1)
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        stuck = [name for name, count in waiting.items() if count]
        if stuck:
            raise self._cycle_error(stuck[0], parents, set(stuck))
        return depths

    def _cycle_error(self, start: str, parents: dict[str, list[str]], stuck: set[str]) -> InventoryError:
        """Walk up from a group left over by the topological sort until a group repeats.

        The cycle is reported from the group declared first, closing on the edge
        that completes it, so the message points at the line to fix.
        """
        order = list(self._groups)
        trail = [start]
        while True:
            parent = next(p for p in parents[trail[-1]] if p in stuck)
            if parent in trail:
                loop = list(reversed(trail[trail.index(parent) :]))
                first = min(range(len(loop)), key=lambda i: order.index(loop[i]))
                cycle = [*loop[first:], *loop[:first], loop[first]]
                where = self._groups[cycle[-2]].children[cycle[-1]]
                return InventoryError(f"{where}: group cycle " + " -> ".join(cycle))
            trail.append(parent)

    def _parents(self) -> dict[str, list[str]]:
        parents: dict[str, list[str]] = {name: [] for name in self._groups}
        for name, decl in self._groups.items():
            for child in decl.children:
                parents[child].append(name)
        return parents


def _priority(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InventoryError(f"{where}: {PRIORITY_VAR} must be an integer, got {value!r}") from None


def _ancestors(direct: list[str], groups: dict[str, Group]) -> set[str]:
    found: set[str] = set()
    pending = list(direct)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(groups[name].parents)
    return found
