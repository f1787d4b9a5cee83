"""Ansible's YAML inventory shape: groups with hosts / children / vars, at any depth.

Top-level keys are groups ("all" or any other); a group's body and a host's
body may be empty (null). Unknown keys are refused rather than skipped, since
a misspelt "host:" would otherwise drop machines from a hardening run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from remediate.errors import InventoryError
from remediate.inventory import safe_yaml
from remediate.inventory.builder import InventoryBuilder
from remediate.inventory.names import check_group_name, check_vars, expand_host

GROUP_KEYS = ("children", "hosts", "vars")


def parse(path: Path, builder: InventoryBuilder) -> None:
    document = safe_yaml.load(path)
    data = document.data
    if data is None:
        raise InventoryError(f"{path}: the inventory file is empty")
    if not isinstance(data, dict):
        raise InventoryError(
            f"{path}: the top level must be a mapping of group names (all:, webservers:, ...), got {_kind(data)}"
        )
    if "plugin" in data:
        raise InventoryError(
            f"{document.where(data, 'plugin')}: inventory plugin configurations are not supported; "
            "give a static YAML or INI inventory"
        )
    for name, body in data.items():
        _group(document, builder, name, body, document.where(data, name), None)


def _group(
    document: safe_yaml.Document,
    builder: InventoryBuilder,
    name: Any,
    body: Any,
    where: str,
    parent: str | None,
) -> None:
    check_group_name(name, where)
    builder.group(name, where)
    if parent is not None:
        builder.child(parent, name, where)
    if body is None:
        return
    if not isinstance(body, dict):
        raise InventoryError(
            f"{where}: group {name!r} must be a mapping with {', '.join(GROUP_KEYS)}, got {_kind(body)}"
        )
    for key, value in body.items():
        at = document.where(body, key)
        if key not in GROUP_KEYS:
            raise InventoryError(f"{at}: unknown key {key!r} in group {name!r}; allowed keys: {', '.join(GROUP_KEYS)}")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InventoryError(f"{at}: '{key}' of group {name!r} must be a mapping, got {_kind(value)}")
        if key == "vars":
            builder.group_vars(name, _vars(document, value), at)
        elif key == "hosts":
            _hosts(document, builder, name, value)
        else:
            for child, child_body in value.items():
                _group(document, builder, child, child_body, document.where(value, child), name)


def _hosts(document: safe_yaml.Document, builder: InventoryBuilder, group: str, hosts: dict) -> None:
    for spec, values in hosts.items():
        where = document.where(hosts, spec)
        names, port = expand_host(spec, where)
        if values is None:
            values = {}
        elif not isinstance(values, dict):
            raise InventoryError(f"{where}: vars of host {spec!r} must be a mapping, got {_kind(values)}")
        values = _vars(document, values)
        if port is not None:
            values = {"ansible_port": port, **values}
        for name in names:
            builder.host(name, group, values, where)


def _vars(document: safe_yaml.Document, values: dict) -> dict:
    return check_vars(values, lambda var: document.where(values, var))


def _kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)
