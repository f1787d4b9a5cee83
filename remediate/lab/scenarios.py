"""Seeded lab scenarios: the Docker misconfigurations (and one good config) we test against.

The scenarios themselves are data in templates/lab/scenarios.yml; this module
only knows how to lay their files down, run their setup and prove they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import jinja2
import yaml

from remediate.errors import LabError
from remediate.lab import tls
from remediate.lab.host import LabHost, Layer, host_exec
from remediate.templates import TEMPLATES_DIR

SCENARIOS_FILE = TEMPLATES_DIR / "lab" / "scenarios.yml"
SOURCES_DIR = TEMPLATES_DIR / "lab" / "scenarios"
BUSYBOX_IMPORT = "tar -C /opt/remediate-lab/busybox -c . | docker import -c 'CMD [\"sh\"]' - busybox:latest >/dev/null"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    group: str
    files: list[dict] = field(default_factory=list)
    dirs: list[dict] = field(default_factory=list)
    moves: list[dict] = field(default_factory=list)
    setup: list[list[str]] = field(default_factory=list)
    verify: list[dict] = field(default_factory=list)
    generate: dict = field(default_factory=dict)


@cache
def load() -> dict[str, Scenario]:
    raw = yaml.safe_load(SCENARIOS_FILE.read_text())
    return {name: Scenario(name=name, **spec) for name, spec in raw.items()}


def get(name: str) -> Scenario:
    scenarios = load()
    if name not in scenarios:
        raise LabError(f"unknown scenario {name!r}; known: {', '.join(scenarios)}")
    return scenarios[name]


def seed_files(scenario: Scenario, layer: Layer) -> None:
    """Lay the scenario's files into the host's overlay layer before it boots (then move what it moves)."""
    for spec in scenario.dirs:
        layer.mkdirs(spec["path"], mode=int(spec["mode"], 8))
    for spec in scenario.files:
        content = (SOURCES_DIR / spec["source"]).read_bytes()
        layer.write(spec["path"], content, mode=int(spec["mode"], 8))
    if "tls" in scenario.generate:
        spec = scenario.generate["tls"]
        for path, content, mode in tls.generate(spec["server"], spec["client"]):
            layer.write(path, content, mode=mode)
    for spec in scenario.moves:
        if spec.get("optional") and not layer.exists(spec["from"]):
            continue
        layer.move(spec["from"], spec["to"])


def docker_active(host: LabHost) -> bool:
    result = host_exec(host, ["systemctl", "is-active", "docker.service"], check=False)
    return result.stdout.decode().strip() == "active"


def run_setup(scenario: Scenario, host: LabHost, context: dict) -> None:
    """Import the local busybox image (when dockerd runs) and run the scenario's setup commands."""
    if docker_active(host):
        host_exec(host, ["sh", "-c", BUSYBOX_IMPORT], timeout=120)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for argv in scenario.setup:
        host_exec(host, [env.from_string(arg).render(context) for arg in argv], timeout=120)
    if docker_active(host):
        ids = host_exec(host, ["docker", "ps", "-aq", "--no-trunc"], check=False).stdout.decode().split()
        host.container_ids = ids


def verify(scenario: Scenario, host: LabHost) -> list[str]:
    """Return the scenario's checks that do not hold (empty when it is really in place)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    problems = []
    for check in scenario.verify:
        argv = [env.from_string(arg).render() for arg in check["run"]]
        result = host_exec(host, argv, check=False)
        out = result.stdout.decode(errors="replace").strip()
        if "equals" in check:
            ok = out == check["equals"]
        elif "not_equals" in check:
            ok = out != check["not_equals"]
        elif "contains" in check:
            ok = check["contains"] in out
        elif "lines" in check:
            missing = [line for line in check["lines"] if line not in out.splitlines()]
            ok = not missing
            out = "missing " + ", ".join(missing) if missing else out
        elif check.get("nonempty"):
            ok = bool(out)
        else:
            ok = result.returncode == 0
        if not ok:
            problems.append(f"{' '.join(argv)} -> rc={result.returncode} out={out[:200]!r}")
    return problems
