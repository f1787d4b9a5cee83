"""What each task does, end to end; tasks.py only parses options and calls these.

Every function returns the process exit code, so the same behaviour is
reachable from tests without going through Invoke.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

import datetime as dt

from remediate import checks, output, results
from remediate.audit import audit_host
from remediate.connection import ConnectOptions
from remediate.facts.gather import gather
from remediate.inventory import resolve_target
from remediate.policy import policy_for
from remediate.runner import run_fleet

# Exit codes (README "Exit codes"): like `terraform plan -detailed-exitcode`, worst first.
EXIT_OK, EXIT_ERROR, EXIT_FINDINGS, EXIT_UNREACHABLE = 0, 1, 2, 3


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


@dataclass
class AuditOptions:
    only: str | None = None
    skip: str | None = None
    fail_on: str = "high"
    profile: str | None = None
    json_path: Path | None = None
    show_passed: bool = False


def run_audit(target: Target, opts: AuditOptions):
    """Audit every selected host; returns (results document, outcomes)."""
    selected = checks.select(opts.only, opts.skip)
    if opts.fail_on not in checks.model.SEVERITIES:
        raise ValueError(f"--fail-on must be one of {', '.join(checks.model.SEVERITIES)}")
    inventory, hosts = target.resolve()
    # Policies are resolved before connecting, so a bad policy stops the run before any host is touched.
    policies = {h.name: policy_for(dict(h.vars), opts.profile) for h in hosts}
    started = dt.datetime.now(dt.timezone.utc)
    progress = output.Progress(len(hosts), verb="auditing")

    def work(conn, host):
        facts = gather(conn, become=needs_become(host))
        return audit_host(facts, policies[host.name], selected, host.name, tuple(host.groups))

    outcomes = run_fleet(hosts, work, target.connect_options(), forks=target.forks,
                         resolve_host=inventory.hosts.get, progress=progress.update)
    doc = results.document("audit", results.new_run_id(), started, str(inventory.source), target.hosts,
                           {"only": opts.only, "skip": opts.skip, "fail_on": opts.fail_on,
                            "profile": opts.profile}, outcomes)
    return doc, outcomes


def audit(target: Target, opts: AuditOptions) -> int:
    doc, outcomes = run_audit(target, opts)
    output.audit_report(outcomes, fail_on=opts.fail_on, show_passed=opts.show_passed)
    if opts.json_path:
        results.write(doc, opts.json_path)
        output.info(f"results written to {opts.json_path}")
    return audit_exit_code(outcomes, opts.fail_on)


def audit_exit_code(outcomes, fail_on: str) -> int:
    if any(o.status == "failed" for o in outcomes) or any(o.value.errors() for o in outcomes if o.ok):
        return EXIT_ERROR
    if any(o.status == "unreachable" for o in outcomes):
        return EXIT_UNREACHABLE
    if any(o.value.failing(fail_on) for o in outcomes if o.ok):
        return EXIT_FINDINGS
    return EXIT_OK
