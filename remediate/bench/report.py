"""The benchmark's verdict: the results document (JSON), the targets of issue 6, and the printed tables."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from remediate import output
from remediate.bench.contestants import REFERENCE, ROUND_TRIP_BUDGET
from remediate.bench.measure import ScalePoint, Summary, marginal
from remediate.private_files import write_private

FORMAT = "remediate.bench/1"
PACKAGES = ("remediate", "ansible-core", "pyinfra", "paramiko")


@dataclass(frozen=True)
class SpeedTarget:
    contestant: str
    speedup: float  # remediate's median must be at least this many times faster
    text: str


SPEED_TARGETS = (
    SpeedTarget("ansible", 25.0, "remediate >= 25x faster than Ansible"),
    SpeedTarget("pyinfra", 3.0, "remediate >= 3x faster than pyinfra"),
    SpeedTarget("floor", 1 / 1.5, "remediate <= 1.5x the floor"),
)


def targets(summary: list[Summary]) -> list[dict]:
    """Each target with the measured value and whether it holds (targets are reported, never asserted)."""
    by_name = {s.contestant: s for s in summary}
    ref = by_name[REFERENCE]
    out = []
    for t in SPEED_TARGETS:
        if t.contestant in by_name:
            speedup = by_name[t.contestant].median / ref.median
            shown = f"{speedup:.2f}x faster" if t.speedup >= 1 else f"{1 / speedup:.2f}x the floor"
            out.append({"target": t.text, "measured": shown, "met": speedup >= t.speedup})
    for name, budget in ROUND_TRIP_BUDGET.items():
        if name in by_name and by_name[name].round_trips_max is not None:
            trips = by_name[name].round_trips_max
            out.append(
                {
                    "target": f"{name}: at most {budget} round trips per host",
                    "measured": f"{trips} per host",
                    "met": trips <= budget,
                }
            )
    return out


def scale_verdict(points: list[ScalePoint]) -> dict:
    steps = marginal(points)
    verdict = {"points": [p.to_json() for p in points], "marginal": steps}
    if len(points) >= 2:
        first, last = points[0], points[-1]
        verdict["seconds_per_host_growth"] = round(last.seconds_per_host / first.seconds_per_host, 2)
        verdict["kb_per_host"] = steps[-1]["kb_per_host"]
    return verdict


def document(
    options: dict,
    started: dt.datetime,
    load_before: tuple,
    summary: list[Summary],
    runs: dict,
    contestants,
    scale_points: list[ScalePoint],
) -> dict:
    return {
        "format": FORMAT,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": [round(v, 2) for v in load_before],
            "load_after": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
        },
        "versions": {p: _version(p) for p in PACKAGES},
        "options": options,
        "contestants": [{"name": c.name, "what": c.what} for c in contestants],
        "summary": [s.to_json() for s in summary],
        "targets": targets(summary),
        "scale": scale_verdict(scale_points) if scale_points else None,
        "runs": [r.to_json() for items in runs.values() for r in items],
    }


def write(doc: dict, path: Path) -> None:
    write_private(path, json.dumps(doc, indent=1) + "\n")


def show(doc: dict) -> None:
    """The tables a person reads: contestants, targets, scale."""
    opts = doc["options"]
    print(
        f"\n{opts['hosts']} hosts, {opts['forks']} in parallel, median of {opts['rounds']} alternating rounds "
        f"(load average before {doc['machine']['load_before'][0]}, after {doc['machine']['load_after'][0]}; "
        f"{doc['machine']['cpus']} CPUs shared by the controller and every lab host)\n"
    )
    # Where the CPU went: the contestant's own processes, and everything else (the lab hosts' sshd, shells
    # and probes, plus the idle lab's background) per host. On shared cores this is what bounds wall time.
    rows = [
        [
            s["contestant"],
            f"{s['median']:.2f}",
            f"{s['min']:.2f}",
            f"{s['max']:.2f}",
            f"{s['ratio']:.2f}x",
            f"{s['machine_cpu_seconds']:.1f}",
            f"{s['cpu_seconds']:.1f}",
            f"{(s['machine_cpu_seconds'] - s['cpu_seconds']) * 1000 / opts['hosts']:.0f}",
            f"{s['max_rss_mb']:.0f}",
            "-" if s["round_trips_max"] is None else str(s["round_trips_max"]),
        ]
        for s in doc["summary"]
    ]
    print(
        output.table(
            [
                "contestant",
                "median s",
                "min s",
                "max s",
                "vs remediate",
                "machine CPU s",
                "controller CPU s",
                "hosts' CPU ms/host",
                "peak RSS MB",
                "round trips/host",
            ],
            rows,
        )
    )
    print()
    for t in doc["targets"]:
        mark = output.color("met", "green") if t["met"] else output.color("NOT MET", "red")
        print(f"  {mark:>7}  {t['target']}: {t['measured']}")
    scale = doc["scale"]
    if scale:
        print()
        steps = {m["to"]: m for m in scale["marginal"]}
        rows = [
            [
                str(p["hosts"]),
                f"{p['seconds']:.2f}",
                f"{p['seconds_per_host'] * 1000:.0f}",
                f"{p['max_rss_mb']:.0f}",
                f"{steps[p['hosts']]['seconds_per_host'] * 1000:.0f}" if p["hosts"] in steps else "-",
                f"{steps[p['hosts']]['kb_per_host']:.0f}" if p["hosts"] in steps else "-",
                str(p["round_trips_max"]),
            ]
            for p in scale["points"]
        ]
        print(
            output.table(
                [
                    "inventory hosts",
                    "seconds",
                    "ms/host",
                    "peak RSS MB",
                    "added ms/host",
                    "added KB/host",
                    "round trips/host",
                ],
                rows,
            )
        )


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
