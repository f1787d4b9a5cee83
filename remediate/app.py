"""What each task does, end to end; tasks.py only parses options and calls these.

Every function returns the process exit code, so the same behaviour is
reachable from tests without going through Invoke.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

from remediate import output
from remediate.connection import ConnectOptions
from remediate.facts.gather import gather
from remediate.inventory import resolve_target
from remediate.runner import run_fleet

EXIT_OK, EXIT_ERROR = 0, 1


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

    def resolve(self):
        inventory, hosts = resolve_target(self.hosts, self.inventory, self.inventories_dir)
        return inventory, hosts

    def connect_options(self) -> ConnectOptions:
        password = os.environ.get("REMEDIATE_BECOME_PASSWORD")
        if self.ask_become_pass:
            password = getpass.getpass("sudo password: ")
        return ConnectOptions(known_hosts=self.known_hosts, accept_new_host_keys=self.accept_new_host_keys,
                              become_password=password)


def needs_become(host) -> bool:
    return str(host.vars.get("ansible_user") or "root") != "root"


def collect_facts(target: Target, save_dir: Path | None = None):
    """Gather facts from every selected host in parallel; save them as JSON when asked."""
    inventory, hosts = target.resolve()
    progress = output.Progress(len(hosts), verb="gathering facts")
    outcomes = run_fleet(
        hosts,
        lambda conn, host: gather(conn, become=needs_become(host)),
        target.connect_options(),
        forks=target.forks,
        resolve_host=inventory.hosts.get,
        progress=progress.update,
    )
    progress.finish()
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        for outcome in outcomes:
            if outcome.ok:
                outcome.value.save(save_dir / f"{outcome.host}.json")
    return outcomes


def show_facts(target: Target, save_dir: Path | None = None) -> int:
    outcomes = collect_facts(target, save_dir)
    output.facts_summary(outcomes)
    if save_dir is not None:
        output.info(f"facts saved in {save_dir}/")
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_ERROR
