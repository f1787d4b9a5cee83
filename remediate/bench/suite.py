"""`invoke bench` end to end: boot (or reuse) the bench lab, measure every contestant, report, clean up."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from remediate import output
from remediate.bench import contestants as cs
from remediate.bench import inventory, measure, report
from remediate.lab.fleet import Lab

# Ansible runs Python modules on the targets; nobody else needs anything there.
IMAGE_PACKAGES = ("python3",)


@dataclass
class BenchOptions:
    rounds: int = 5
    forks: int = 10
    hosts: int = 20
    scale: tuple[int, ...] = (20, 100, 500)
    warmup: int = 1
    out: Path = Path("reports/bench.json")
    lab: str = "bench"
    keep_lab: bool = False

    def to_json(self) -> dict:
        return {**asdict(self), "out": str(self.out), "scale": list(self.scale)}


def bench_lab(name: str, log=output.info) -> Lab:
    """The bench lab: plain `stock` hosts only (plus the bastion every lab has), on the python3 image."""
    return Lab(name, scenario_names=(), extra_packages=IMAGE_PACKAGES, log=log)


def run_bench(opts: BenchOptions, log=output.info) -> dict:
    """Measure, write the JSON document to opts.out, print the tables; returns the document."""
    if opts.rounds < 1 or opts.forks < 1 or opts.hosts < 1 or any(n < 1 for n in opts.scale):
        raise cs.BenchError("--rounds, --forks, --hosts and --scale sizes must be at least 1")
    cs.check_tools()
    lab = bench_lab(opts.lab, log)
    was_up = bool(lab.hosts()) and all(h.alive() for h in lab.hosts().values())
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    lab.up(extra=opts.hosts)
    logs = opts.out.parent / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="remediate-bench-") as tmp:
            scratch = Path(tmp)
            base, shared = inventory.lab_fleet(lab.inventory_path)
            fleet = inventory.write(scratch / "fleet", base, shared, opts.hosts)
            log(
                f"bench: {len(cs.CONTESTANTS)} contestants on {opts.hosts} hosts, {opts.forks} in parallel, "
                f"{opts.warmup} warm-up + {opts.rounds} rounds; logs in {logs}/"
            )
            runs = measure.rounds(
                cs.CONTESTANTS,
                fleet,
                opts.forks,
                opts.rounds,
                opts.warmup,
                scratch / "runs",
                logs,
                lambda run, warm: _progress(log, run, warm),
            )
            fleets = [inventory.write(scratch / "fleet", base, shared, n) for n in opts.scale]
            if fleets:
                log(
                    f"bench: scale, remediate on inventories of {', '.join(map(str, opts.scale))} hosts "
                    f"aliasing the {len(base)} lab hosts"
                )
            points = measure.scale(
                cs.CONTESTANTS[0],
                fleets,
                opts.forks,
                scratch / "runs",
                logs,
                lambda run, warm: _progress(log, run, warm),
            )
    finally:
        if not opts.keep_lab and not was_up:
            lab.down()
    summary = measure.summarize(runs, cs.REFERENCE)
    doc = report.document(opts.to_json(), started, load_before, summary, runs, cs.CONTESTANTS, points)
    report.write(doc, opts.out)
    report.show(doc)
    log(f"\nbenchmark written to {opts.out}")
    return doc


def _progress(log, run: measure.Run, warmup: bool) -> None:
    label = "warm-up" if warmup else f"round {run.round + 1}"
    log(f"  {label}: {run.contestant} on {run.hosts} hosts {run.seconds:.2f}s")
