"""Which hosts a fleet task works on, and how to reach them (the options every fleet task shares)."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

from remediate.connection import ConnectOptions
from remediate.inventory import resolve_target


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
    _options: ConnectOptions | None = field(default=None, init=False, repr=False)

    def resolve(self):
        inventory, hosts = resolve_target(self.hosts, self.inventory, self.inventories_dir)
        return inventory, hosts

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
