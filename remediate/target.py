"""Which hosts a fleet task works on, and how to reach them (the options every fleet task shares)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

from remediate.connection import ConnectOptions
from remediate.inventory import Inventory, resolve_target
from remediate.inventory.shard import Shard
from remediate.runner import Fleet, auto_processes


@dataclass
class Target:
    """Which hosts, and how to reach them (the options every fleet task shares)."""

    hosts: str
    inventory: str | None = None
    inventories_dir: Path = Path("inventories")
    forks: int = 10
    accept_new_host_keys: bool = False
    ask_become_pass: bool = False
    known_hosts: list[Path] = field(default_factory=lambda: [Path.home() / ".ssh" / "known_hosts"])
    shard: Shard | None = None  # --shard K/N: only this shard of the matched hosts
    processes: int | None = 1  # worker processes for read-only runs; None: auto_processes
    _options: ConnectOptions | None = field(default=None, init=False, repr=False)

    def resolve(self):
        inventory, hosts = resolve_target(self.hosts, self.inventory, self.inventories_dir)
        return inventory, self.shard.select(hosts) if self.shard else hosts

    def fleet(self, *, read_only: bool = False) -> tuple[Inventory, Fleet]:
        """The inventory and the Fleet of this run's hosts; only read-only runs spread them over processes."""
        inventory, hosts = self.resolve()
        processes = 1
        if read_only:
            processes = self.processes or auto_processes(len(hosts), self.forks)
        options = self.connect_options()  # before any worker is forked: the sudo password is asked once, here
        return inventory, Fleet(hosts, options, self.forks, inventory.hosts.get, processes)

    def connect_options(self) -> ConnectOptions:
        """Built once per run, so the sudo password is asked for once, however many phases connect."""
        if self._options is None:
            password = os.environ.get("REMEDIATE_BECOME_PASSWORD")
            if self.ask_become_pass:
                password = getpass.getpass("sudo password: ")
            self._options = ConnectOptions(
                known_hosts=self.known_hosts, accept_new_host_keys=self.accept_new_host_keys, become_password=password
            )
        return self._options


def needs_become(host) -> bool:
    return str(host.vars.get("ansible_user") or "root") != "root"
