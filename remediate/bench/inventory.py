"""The benchmark's fleet: the lab's plain hosts, aliased to any count, written for every contestant.

Aliases are distinct inventory names for the same address and port, so a
500-host inventory runs against 20 real hosts; their host keys are looked up
as `[127.0.0.1]:PORT` by every contestant, so the lab's known_hosts serves
every alias unchanged.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from remediate.inventory import load_inventory
from remediate.private_files import write_private

GROUP = "bench"
# The lab inventory's group of plain `stock` hosts (lab.up --extra N).
LAB_GROUP = "extra"
# Connection and policy vars every bench host shares with the lab's hosts.
SHARED_VARS = ("ansible_user", "ansible_ssh_private_key_file", "remediate_known_hosts", "remediate_policy")


@dataclass(frozen=True)
class BenchHost:
    name: str
    address: str
    port: int


@dataclass(frozen=True)
class BenchInventory:
    """One fleet in every contestant's format."""

    hosts: list[BenchHost]
    yaml_path: Path  # Ansible YAML: remediate and Ansible read it
    json_path: Path  # a plain host list: pyinfra's inventory.py and the floor read it


def aliases(base: list[BenchHost], count: int) -> list[BenchHost]:
    """`count` hosts cycling over `base`: the real names first, then NAME-aN for the Nth extra pass."""
    if not base:
        raise ValueError("no lab hosts to alias")
    out = []
    for i in range(count):
        host = base[i % len(base)]
        name = host.name if i < len(base) else f"{host.name}-a{i // len(base)}"
        out.append(BenchHost(name, host.address, host.port))
    return out


def lab_fleet(lab_inventory: Path) -> tuple[list[BenchHost], dict]:
    """The lab's plain hosts and the vars they share (user, key, known_hosts, policy)."""
    hosts = load_inventory(lab_inventory).select(LAB_GROUP)
    base = [BenchHost(h.name, str(h.vars["ansible_host"]), int(h.vars["ansible_port"])) for h in hosts]
    shared = {k: hosts[0].vars[k] for k in SHARED_VARS if k in hosts[0].vars} if hosts else {}
    return base, shared


def ansible_inventory(hosts: list[BenchHost], shared: dict) -> dict:
    """Ansible YAML inventory data: group `bench`; OpenSSH gets the lab's known_hosts, checked strictly."""
    known_hosts = shared["remediate_known_hosts"]
    ssh_args = ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    return {
        "all": {
            "vars": {**shared, "ansible_ssh_common_args": shlex.join(ssh_args)},
            "children": {
                GROUP: {"hosts": {h.name: {"ansible_host": h.address, "ansible_port": h.port} for h in hosts}}
            },
        }
    }


def host_list(hosts: list[BenchHost], shared: dict) -> list[dict]:
    return [
        {
            "name": h.name,
            "host": h.address,
            "port": h.port,
            "user": shared.get("ansible_user", "root"),
            "key": str(shared["ansible_ssh_private_key_file"]),
            "known_hosts": str(shared["remediate_known_hosts"]),
        }
        for h in hosts
    ]


def write(directory: Path, base: list[BenchHost], shared: dict, count: int) -> BenchInventory:
    hosts = aliases(base, count)
    directory.mkdir(parents=True, exist_ok=True)
    yaml_path, json_path = directory / f"inventory-{count}.yml", directory / f"hosts-{count}.json"
    write_private(yaml_path, yaml.safe_dump(ansible_inventory(hosts, shared), sort_keys=False))
    write_private(json_path, json.dumps(host_list(hosts, shared), indent=1) + "\n")
    return BenchInventory(hosts, yaml_path, json_path)
