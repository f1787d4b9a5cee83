"""Ansible's INI inventory: [group], [group:vars], [group:children] and host lines.

Host lines are split with shlex (`web1 ansible_host=10.0.0.1 motd="two words"`),
and every value is kept as the string written: unlike Ansible we do not
literal-eval host-line values, so ansible_port=2222 is "2222" here (a port
given as "web1:2222" is the one exception, an int, as in YAML). [group:vars]
lines are `key = value`; the value is taken verbatim unless it is quoted.
As in Ansible, [g:vars] for a group never declared, and a [p:children] entry
naming a group never declared, are errors (usually a typo or a host in the
wrong section).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from remediate.errors import InventoryError
from remediate.inventory.builder import UNGROUPED, InventoryBuilder
from remediate.inventory.names import check_group_name, check_var_name, expand_host
from remediate.inventory.safe_yaml import read_text

_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_KINDS = ("hosts", "children", "vars")


def parse(path: Path, builder: InventoryBuilder) -> None:
    group, kind = UNGROUPED, "hosts"
    declared = {"all", UNGROUPED}
    references: list[tuple[str, str, str]] = []
    empty = True
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        empty = False
        where = f"{path}:{number}"
        if line.startswith("["):
            group, kind = _section(line, where)
            builder.group(group, where)
            if kind == "vars":
                references.append((group, where, f"[{group}:vars] is for a group that is never declared"))
            else:
                declared.add(group)
        elif kind == "hosts":
            _host_line(builder, group, line, where)
        elif kind == "children":
            child = check_group_name(_single_token(line, where, "one group name per line"), where)
            builder.child(group, child, where)
            problem = f"[{group}:children] names group {child!r}, which is never declared"
            references.append((child, where, problem))
        else:
            key, value = _var_line(line, where)
            builder.group_vars(group, {key: value}, where)
    if empty:
        raise InventoryError(f"{path}: the inventory file is empty")
    for name, where, problem in references:
        if name not in declared:
            raise InventoryError(f"{where}: {problem} (declare it with [{name}] or [{name}:children])")


def _section(line: str, where: str) -> tuple[str, str]:
    match = _SECTION.fullmatch(line)
    if not match:
        raise InventoryError(
            f"{where}: malformed section header {line!r}; expected [group], [group:vars] or [group:children]"
        )
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in _KINDS:
        raise InventoryError(f"{where}: unknown section type {kind!r} in {line!r}; expected vars or children")
    return check_group_name(name, where), kind


def _tokens(line: str, where: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}: cannot split line: {exc}") from None


def _single_token(text: str, where: str, expected: str) -> str:
    tokens = _tokens(text, where)
    if len(tokens) != 1:
        raise InventoryError(f"{where}: expected {expected}, got {text!r}")
    return tokens[0]


def _host_line(builder: InventoryBuilder, group: str, line: str, where: str) -> None:
    spec, *assignments = _tokens(line, where)
    names, port = expand_host(spec, where)
    values: dict[str, object] = {} if port is None else {"ansible_port": port}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise InventoryError(f"{where}: expected key=value after host {spec!r}, got {assignment!r}")
        values[check_var_name(key, where)] = value
    for name in names:
        builder.host(name, group, values, where)


def _var_line(line: str, where: str) -> tuple[str, str]:
    key, sep, value = line.partition("=")
    if not sep:
        raise InventoryError(f"{where}: expected key=value in a vars section, got {line!r}")
    key, value = key.strip(), value.strip()
    if value[:1] in ("'", '"'):
        value = _single_token(value, where, "a single quoted value")
    return check_var_name(key, where), value
