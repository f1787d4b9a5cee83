"""Ansible host patterns: names, globs, ~regex, unions, &intersections, !exclusions.

Terms are separated by "," or ":" (a term that is exactly a host name, such
as an IPv6 literal, is not split). As in Ansible, all plain terms are united
first, then every &term intersects, then every !term excludes, whatever the
order they were written in; only exclusions or intersections imply "all".
Unlike Ansible, which warns and carries on, a plain name that is neither a
host nor a group, and a pattern that selects nothing, are errors: a typo in
`all:!prod` must not silently harden prod. Also unlike Ansible, globs and
regexes never match the implicit groups "all" and "ungrouped", so `a*` means
hosts and groups starting with "a", not the whole fleet. Regexes cannot
contain "," or ":" and bracket subscripts (web[0]) are not supported.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from remediate.errors import InventoryError

IMPLICIT_GROUPS = ("all", "ungrouped")

if TYPE_CHECKING:
    from remediate.inventory.model import Host, Inventory


def select(inventory: Inventory, pattern: str) -> list[Host]:
    terms = _split(pattern, inventory)
    union = [t for t in terms if t[0] not in "&!"] or ["all"]
    chosen: set[str] = set()
    for term in union:
        chosen |= _match(inventory, term, pattern)
    for term in terms:
        if term[0] == "&":
            chosen &= _match(inventory, term[1:], pattern)
    for term in terms:
        if term[0] == "!":
            chosen -= _match(inventory, term[1:], pattern)
    if not chosen:
        raise InventoryError(f"host pattern {pattern!r} matches no hosts in {inventory.source}")
    return [host for name, host in inventory.hosts.items() if name in chosen]


def _split(pattern: str, inventory: Inventory) -> list[str]:
    terms: list[str] = []
    for part in (pattern or "").split(","):
        part = part.strip()
        if part.lstrip("&!") in inventory.hosts:
            terms.append(part)
        else:
            terms.extend(term.strip() for term in part.split(":"))
    terms = [term for term in terms if term]
    if not terms:
        raise InventoryError(f"empty host pattern {pattern!r}; use a host, a group, or 'all'")
    return terms


def _match(inventory: Inventory, term: str, pattern: str) -> set[str]:
    """Names of the hosts one term selects (without its & or ! prefix)."""
    if not term:
        raise InventoryError(f"host pattern {pattern!r} has a bare '&' or '!'; follow it with a name")
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except (re.error, OverflowError, RecursionError) as exc:
            # re.compile raises OverflowError for a{99999999999} and RecursionError for deep nesting.
            raise InventoryError(f"invalid regex {term!r} in host pattern {pattern!r}: {exc}") from None
        return _select_names(inventory, lambda name: regex.match(name) is not None)
    if "[" in term or "]" in term:
        raise InventoryError(
            f"{term!r} in host pattern {pattern!r}: subscripts and ranges are not supported in "
            "patterns; use a glob (web0*) or a ~regex"
        )
    if "*" in term or "?" in term:
        return _select_names(inventory, lambda name: fnmatchcase(name, term))
    if term in inventory.groups:
        return {host.name for host in inventory.hosts.values() if term in host.groups}
    if term in inventory.hosts:
        return {term}
    raise InventoryError(
        f"no host or group named {term!r} (in pattern {pattern!r}) in {inventory.source}"
        f"{_colon_hint(inventory, pattern) or inventory.suggest(term)}"
    )


def _colon_hint(inventory: Inventory, pattern: str) -> str:
    """A host name with colons (IPv6) inside a ':'-separated pattern was cut at its colons."""
    cut = [name for name in inventory.hosts if ":" in name and name in pattern and name != pattern.lstrip("&!")]
    if not cut:
        return ""
    return f"; {cut[0]!r} holds ':' and was split: separate the terms with ',' instead (e.g. 'all,!{cut[0]}')"


def _select_names(inventory: Inventory, matches) -> set[str]:
    """Hosts whose own name matches, plus every host of a declared group whose name matches."""
    groups = {name for name in inventory.groups if name not in IMPLICIT_GROUPS and matches(name)}
    return {host.name for host in inventory.hosts.values() if matches(host.name) or groups.intersection(host.groups)}
