"""The contestants of `invoke bench`: one command line each, run as its own process on the same fleet.

Everyone pays interpreter start-up, connection setup and their own output, and
everyone does the same work on every host: read daemon.json, stat the Docker
files, `docker info`, `systemctl cat docker`, and show what templating
daemon.json and a docker.service drop-in would change, changing nothing.
remediate's own entry is its fleet dry-run (`harden --dry-run`), which also
audits every check and validates the plan on the host; `remediate audit` is
measured beside it for its round-trip budget.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from remediate.bench.inventory import GROUP, BenchInventory
from remediate.errors import RemediateError
from remediate.templates import TEMPLATES_DIR

ROOT = TEMPLATES_DIR.parent
BENCH_DIR = ROOT / "bench"
BIN = Path(sys.executable).parent
INSTALL_HINT = ".venv/bin/pip install -e '.[bench]'"
REFERENCE = "remediate"
# Round trips (SSH exec channels) a host may cost, per remediate contestant (README "Audit").
ROUND_TRIP_BUDGET = {"remediate": 3, "remediate audit": 2}


class BenchError(RemediateError):
    """The benchmark cannot run as asked (a tool missing, a contestant failing)."""


@dataclass
class Command:
    argv: list[str]
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    ok_codes: tuple[int, ...] = (0,)
    results: Path | None = None  # remediate's results document: round trips per host
    after: Callable[[], None] | None = None  # cleanup of what the contestant left running


@dataclass(frozen=True)
class Contestant:
    name: str
    what: str
    command: Callable[[BenchInventory, int, Path], Command]  # (fleet, forks, a fresh scratch dir)
    module: str | None = None  # the Python package it needs (from the bench extra)


def remediate_dry_run(fleet: BenchInventory, forks: int, scratch: Path) -> Command:
    """Contestant 1: the fleet dry-run (facts, audit, plan, validation on the host, diffs, JSON results)."""
    results = scratch / "results.json"
    return Command([*_invoke("harden", fleet, forks, results), "--dry-run"], ok_codes=(0, 2), results=results)


def remediate_audit(fleet: BenchInventory, forks: int, scratch: Path) -> Command:
    results = scratch / "results.json"
    return Command(_invoke("audit", fleet, forks, results), ok_codes=(0, 2), results=results)


def _invoke(task: str, fleet: BenchInventory, forks: int, results: Path) -> list[str]:
    return [
        str(_tool("invoke")),
        task,
        "--hosts",
        GROUP,
        "--inventory",
        str(fleet.yaml_path),
        "--forks",
        str(forks),
        "--json",
        str(results),
    ]


def ansible(fleet: BenchInventory, forks: int, scratch: Path) -> Command:
    """ansible-playbook --check --diff, pipelining on; a fresh ControlPath dir, so no round starts warm."""
    control = scratch / "cp"
    control.mkdir()
    env = {
        "ANSIBLE_CONFIG": str(BENCH_DIR / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(scratch / "home"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = [
        str(_tool("ansible-playbook")),
        "-i",
        str(fleet.yaml_path),
        str(BENCH_DIR / "ansible" / "playbook.yml"),
        "--check",
        "--diff",
        "--forks",
        str(forks),
    ]
    return Command(argv, env=env, after=lambda: _close_masters(control))


def pyinfra(fleet: BenchInventory, forks: int, scratch: Path) -> Command:
    """pyinfra --dry --diff: facts, change detection and diffs, nothing executed."""
    argv = [
        str(_tool("pyinfra")),
        str(BENCH_DIR / "pyinfra" / "inventory.py"),
        str(BENCH_DIR / "pyinfra" / "deploy.py"),
        "--dry",
        "--diff",
        "--parallel",
        str(forks),
        "--no-wait",
    ]
    return Command(argv, cwd=BENCH_DIR, env={"REMEDIATE_BENCH_HOSTS": str(fleet.json_path)})


def floor(fleet: BenchInventory, forks: int, scratch: Path) -> Command:
    """Bare paramiko: connect and one batched read per host; what any agentless tool pays at least."""
    return Command([sys.executable, str(BENCH_DIR / "floor.py"), str(fleet.json_path), "--forks", str(forks)])


def floor_script() -> list[str]:
    """The floor's one read as the argv it runs on a host (for the per-probe breakdown)."""
    spec = importlib.util.spec_from_file_location("bench_floor", BENCH_DIR / "floor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return ["sh", "-c", module.SCRIPT, "floor", *module.SPEC["docker_paths"]]


CONTESTANTS = (
    Contestant(
        REFERENCE, "invoke harden --dry-run (facts, audit, plan, host validation, diffs, JSON)", remediate_dry_run
    ),
    Contestant("remediate audit", "invoke audit (facts, every check, JSON)", remediate_audit),
    Contestant("ansible", "ansible-playbook --check --diff (pipelining, ControlPersist)", ansible, "ansible"),
    Contestant("pyinfra", "pyinfra --dry --diff (facts, change detection, diffs)", pyinfra, "pyinfra"),
    Contestant("floor", "bare paramiko: connect + one batched read", floor),
)


def check_tools(contestants=CONTESTANTS) -> None:
    """Refuse to start when the bench extra is missing; never install anything ourselves."""
    missing = [c.module for c in contestants if c.module and importlib.util.find_spec(c.module) is None]
    if missing:
        raise BenchError(
            f"{' and '.join(missing)} not installed: the benchmark needs the optional extra `bench` ({INSTALL_HINT})"
        )


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise BenchError(f"{path} not found; install the benchmark extra: {INSTALL_HINT}")
    return path


def _close_masters(control: Path) -> None:
    """Stop the ssh ControlPersist masters this Ansible run left (they would idle 60 s otherwise)."""
    for socket_path in control.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "bench"],
            capture_output=True,
            timeout=10,
            check=False,
        )
