"""`invoke bench` end to end: boot (or reuse) the bench lab, measure every contestant, report, clean up."""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from remediate import output
from remediate.bench import contestants as cs
from remediate.bench import inventory, measure, probes, report
from remediate.bench.turns import TurnLogs
from remediate.lab.fleet import Lab
from remediate.lab.host import NO_LATENCY, Latency

# Ansible runs Python modules on the targets; nobody else needs anything there.
IMAGE_PACKAGES = ("python3",)


@dataclass
class BenchOptions:
    rounds: int = 5
    forks: int = 10
    hosts: int = 20
    scale: tuple[int, ...] = (20, 100, 500, 5000)
    warmup: int = 1
    out: Path = Path("reports/bench.json")
    lab: str = "bench"
    keep_lab: bool = False
    rtt_ms: tuple[float, ...] = (0.0, 40.0)
    jitter_ms: float = 0.0
    scale_forks: tuple[int, ...] = (10, 50, 200)
    probes: bool = True

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "out": str(self.out),
            "scale": list(self.scale),
            "rtt_ms": list(self.rtt_ms),
            "scale_forks": list(self.scale_forks),
        }


def bench_lab(name: str, log=output.info, latency: Latency = NO_LATENCY) -> Lab:
    """The bench lab: plain `stock` hosts only (plus the bastion every lab has), on the python3 image."""
    return Lab(name, scenario_names=(), extra_packages=IMAGE_PACKAGES, log=log, latency=latency)


def scale_plan(opts: BenchOptions, fleets: dict[int, inventory.BenchInventory]) -> list[measure.ScaleRun]:
    """Every --scale size at --forks and the lowest RTT; then every --scale-forks at each RTT, on the
    second-largest size (the largest when there is one): how wall time and controller CPU follow forks."""
    rtts = sorted(opts.rtt_ms)
    sizes = sorted(fleets)
    plan = [measure.ScaleRun(fleets[n], opts.forks, rtts[0]) for n in sizes]
    if sizes and opts.scale_forks:
        at = sizes[-2] if len(sizes) > 1 else sizes[-1]
        for rtt in rtts:
            plan += [
                measure.ScaleRun(fleets[at], forks, rtt)
                for forks in opts.scale_forks
                if (forks, rtt) != (opts.forks, rtts[0])
            ]
    return plan


def run_bench(opts: BenchOptions, log=output.info) -> dict:
    """Measure at each RTT, write the JSON document to opts.out, print the tables; returns the document."""
    if opts.rounds < 1 or opts.forks < 1 or opts.hosts < 1 or any(n < 1 for n in (*opts.scale, *opts.scale_forks)):
        raise cs.BenchError("--rounds, --forks, --hosts, --scale and --scale-forks sizes must be at least 1")
    if not opts.rtt_ms:
        raise cs.BenchError("--rtt-ms needs at least one round trip (0 for none)")
    cs.check_tools()
    rtts = sorted(opts.rtt_ms)
    lab = bench_lab(opts.lab, log)
    was_up = bool(lab.hosts()) and all(h.alive() for h in lab.hosts().values())
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    logs = opts.out.parent / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    by_rtt: list[list[measure.Summary]] = []
    all_runs: list[measure.Run] = []
    points: list[measure.ScalePoint] = []
    breakdown = None
    try:
        with tempfile.TemporaryDirectory(prefix="remediate-bench-") as tmp:
            scratch = Path(tmp)
            progress = functools.partial(_progress, log)
            for rtt in rtts:
                latency = Latency(rtt, opts.jitter_ms if rtt > 0 else 0.0)
                lab = bench_lab(opts.lab, log, latency)
                lab.up(extra=opts.hosts)
                base, shared = inventory.lab_fleet(lab.inventory_path)
                fleet = inventory.write(scratch / "fleet", base, shared, opts.hosts)
                if opts.probes and breakdown is None:
                    breakdown = probes.breakdown(lab.hosts()[base[0].name], cs.floor_script())
                turn_logs = TurnLogs([lab.turns_log(h.name) for h in base]) if latency.active else None
                log(
                    f"bench: {len(cs.CONTESTANTS)} contestants on {opts.hosts} hosts at {rtt:g} ms RTT, "
                    f"{opts.forks} in parallel, {opts.warmup} warm-up + {opts.rounds} rounds; logs in {logs}/"
                )
                runs = measure.rounds(
                    cs.CONTESTANTS,
                    fleet,
                    opts.forks,
                    opts.rounds,
                    opts.warmup,
                    scratch / "runs",
                    logs,
                    progress,
                    turn_logs,
                    rtt,
                )
                by_rtt.append(measure.summarize(runs, cs.REFERENCE))
                all_runs += [r for items in runs.values() for r in items]
                fleets = {n: inventory.write(scratch / "fleet", base, shared, n) for n in opts.scale}
                plan = [item for item in scale_plan(opts, fleets) if item.rtt_ms == rtt]
                if plan:
                    log(f"bench: scale at {rtt:g} ms RTT, remediate on inventories aliasing the {len(base)} lab hosts")
                points += measure.scale(cs.CONTESTANTS[0], plan, scratch / "runs", logs, progress)
    finally:
        if not opts.keep_lab and not was_up:
            lab.down()
    doc = report.document(opts.to_json(), started, load_before, by_rtt, all_runs, cs.CONTESTANTS, points, breakdown)
    report.write(doc, opts.out)
    report.show(doc)
    log(f"\nbenchmark written to {opts.out}")
    return doc


def _progress(log, run: measure.Run, warmup: bool) -> None:
    label = "warm-up" if warmup else f"round {run.round + 1}"
    trips = f", {run.turns / run.hosts:.1f} round trips/host" if run.turns is not None else ""
    log(f"  {label}: {run.contestant} on {run.hosts} hosts at {run.rtt_ms:g} ms {run.seconds:.2f}s{trips}")
