"""The benchmark's verdict: the results document (JSON), the targets (README Performance), and the printed tables."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

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


# Issue 16: where fleets really are, every round trip costs; these hold at every RTT above 0 measured.
SPEED_TARGETS = (
    SpeedTarget("ansible", 25.0, "remediate >= 25x faster than Ansible"),
    SpeedTarget("pyinfra", 4.0, "remediate >= 4x faster than pyinfra"),
    SpeedTarget("floor", 1 / 1.3, "remediate <= 1.3x the floor"),
)
# At 0 ms the lab measures CPU: what remediate costs the controller and the hosts, against the floor's.
HOSTS = "hosts'"
CPU_TARGETS = (("controller", 2.0), (HOSTS, 1.5))
FLOOR = "floor"
SCALE_RSS_MB = 300.0
LINEAR_SLACK = 1.25  # the last size step's cost per added host may exceed the step before by this much


def cpu_per_host(s: dict) -> dict[str, float]:
    """Controller (the contestant's processes) and hosts' (the rest of the machine) CPU ms per host."""
    hosts = s["hosts"]
    return {
        "controller": s["cpu_seconds"] * 1000 / hosts,
        HOSTS: (s["machine_cpu_seconds"] - s["cpu_seconds"]) * 1000 / hosts,
    }


def targets(summary: list[dict]) -> list[dict]:
    """Each target with the measured value and whether it holds (targets are reported, never asserted).

    summary: one RTT's Summary.to_json() rows, each with `hosts` added."""
    by_name = {s["contestant"]: s for s in summary}
    if REFERENCE not in by_name:
        return []
    ref = by_name[REFERENCE]
    rtt = ref["rtt_ms"]
    at = f" at {rtt:g} ms RTT"
    out = []
    if rtt > 0:
        for t in SPEED_TARGETS:
            if t.contestant in by_name:
                speedup = by_name[t.contestant]["median"] / ref["median"]
                shown = f"{speedup:.2f}x faster" if t.speedup >= 1 else f"{1 / speedup:.2f}x the floor"
                out.append({"target": t.text + at, "measured": shown, "met": speedup >= t.speedup})
    elif FLOOR in by_name:
        ours, floor = cpu_per_host(ref), cpu_per_host(by_name[FLOOR])
        for where, limit in CPU_TARGETS:
            ratio = ours[where] / floor[where] if floor[where] > 0 else float("inf")
            out.append(
                {
                    "target": f"{where} CPU per host <= {limit:g}x the floor's{at}",
                    "measured": f"{ours[where]:.0f} ms vs {floor[where]:.0f} ms ({ratio:.2f}x)",
                    "met": ratio <= limit,
                }
            )
    for name, budget in ROUND_TRIP_BUDGET.items():
        if name in by_name and by_name[name]["round_trips_max"] is not None:
            trips = by_name[name]["round_trips_max"]
            out.append(
                {
                    "target": f"{name}: at most {budget} exec rounds per host{at}",
                    "measured": f"{trips} per host",
                    "met": trips <= budget,
                }
            )
    return out


def scale_verdict(points: list[ScalePoint]) -> dict:
    steps = marginal(points)
    verdict: dict = {"points": [p.to_json() for p in points], "marginal": steps, "targets": []}
    if not points:
        return verdict
    sizes = [p for p in points if (p.forks, p.rtt_ms) == (points[0].forks, points[0].rtt_ms)]
    largest = max(sizes, key=lambda p: p.hosts)
    verdict["targets"].append(
        {
            "target": f"peak RSS <= {SCALE_RSS_MB:g} MB on {largest.hosts} hosts",
            "measured": f"{largest.max_rss_mb:.0f} MB"
            + (f" ({largest.failed_hosts} hosts not reached)" if largest.failed_hosts else ""),
            "met": largest.max_rss_mb <= SCALE_RSS_MB and not largest.failed_hosts,
        }
    )
    series = [m for m in steps if (m["forks"], m["rtt_ms"]) == (points[0].forks, points[0].rtt_ms)]
    if len(series) >= 2:
        before, last = series[-2]["seconds_per_host"], series[-1]["seconds_per_host"]
        verdict["targets"].append(
            {
                "target": f"time linear in hosts up to {largest.hosts}: the last step's ms per added host "
                f"<= {LINEAR_SLACK:g}x the step before",
                "measured": f"{last * 1000:.0f} vs {before * 1000:.0f} ms per added host",
                "met": last <= before * LINEAR_SLACK,
            }
        )
    return verdict


def document(
    options: dict,
    started: dt.datetime,
    load_before: tuple,
    by_rtt: list[list[Summary]],
    runs: list,
    contestants,
    scale_points: list[ScalePoint],
    probes: list[dict] | None = None,
) -> dict:
    hosts = options["hosts"]
    tables = [[{**x.to_json(), "hosts": hosts} for x in summary] for summary in by_rtt if summary]
    scale = scale_verdict(scale_points) if scale_points else None
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
        "rtts": [{"rtt_ms": table[0]["rtt_ms"], "summary": table} for table in tables],
        "targets": [t for table in tables for t in targets(table)] + (scale["targets"] if scale else []),
        "scale": scale,
        "probes": probes,
        "runs": [r.to_json() for r in runs],
    }


def write(doc: dict, path: Path) -> None:
    write_private(path, json.dumps(doc, indent=1) + "\n")


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, so the printed tables paste into the README as they are."""
    lines = [headers, ["---"] * len(headers), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "" if value is None else format(value, fmt)


SUMMARY_HEADERS = [
    "contestant",
    "median s",
    "min s",
    "max s",
    "vs remediate",
    "machine CPU s",
    "controller CPU ms/host",
    "hosts' CPU ms/host",
    "peak RSS MB",
    "connections/host",
    "round trips/host",
    "exec rounds/host",
]


def summary_rows(summary: list[dict]) -> list[list[str]]:
    rows = []
    for s in summary:
        cpu = cpu_per_host(s)
        rows.append(
            [
                s["contestant"],
                f"{s['median']:.2f}",
                f"{s['min']:.2f}",
                f"{s['max']:.2f}",
                f"{s['ratio']:.2f}x",
                f"{s['machine_cpu_seconds']:.1f}",
                f"{cpu['controller']:.0f}",
                f"{cpu[HOSTS]:.0f}",
                f"{s['max_rss_mb']:.0f}",
                _num(s.get("connections_per_host")),
                _num(s.get("turns_per_host")),
                _num(s["round_trips_max"], "d"),
            ]
        )
    return rows


SCALE_HEADERS = [
    "RTT ms",
    "inventory hosts",
    "forks",
    "seconds",
    "ms/host",
    "controller CPU ms/host",
    "peak RSS MB",
    "added ms/host",
    "added KB/host",
    "exec rounds/host",
    "failed hosts",
]


def scale_rows(scale: dict) -> list[list[str]]:
    steps = {(m["to"], m["forks"], m["rtt_ms"]): m for m in scale["marginal"]}
    rows = []
    for p in scale["points"]:
        step = steps.get((p["hosts"], p["forks"], p["rtt_ms"]))
        rows.append(
            [
                f"{p['rtt_ms']:g}",
                str(p["hosts"]),
                str(p["forks"]),
                f"{p['seconds']:.2f}",
                f"{p['seconds_per_host'] * 1000:.0f}",
                f"{p['cpu_seconds'] * 1000 / p['hosts']:.0f}",
                f"{p['max_rss_mb']:.0f}",
                f"{step['seconds_per_host'] * 1000:.0f}" if step else "",
                f"{step['kb_per_host']:.0f}" if step else "",
                str(p["round_trips_max"]),
                str(p.get("failed_hosts", 0)),
            ]
        )
    return rows


def show(doc: dict) -> None:
    """The tables a person reads, in Markdown: one per RTT, the targets, scale, and what each probe costs."""
    opts = doc["options"]
    machine = doc["machine"]
    print(
        f"\n{opts['hosts']} hosts, {opts['forks']} in parallel, median of {opts['rounds']} rotating rounds "
        f"(load average before {machine['load_before'][0]}, after {machine['load_after'][0]}; "
        f"{machine['cpus']} CPUs shared by the controller and every lab host)"
    )
    for table in doc["rtts"]:
        print(f"\n#### RTT {table['rtt_ms']:g} ms\n")
        print(markdown(SUMMARY_HEADERS, summary_rows(table["summary"])))
    print("\n#### Targets\n")
    for t in doc["targets"]:
        print(f"- {'met' if t['met'] else '**not met**'}: {t['target']}: {t['measured']}")
    if doc.get("scale"):
        print("\n#### Scale (remediate harden --dry-run)\n")
        print(markdown(SCALE_HEADERS, scale_rows(doc["scale"])))
    if doc.get("probes"):
        print("\n#### What each probe costs a host (first batch, on one lab host)\n")
        print(markdown(PROBE_HEADERS, probe_rows(doc["probes"])))


PROBE_HEADERS = ["step", "host CPU ms", "wall ms"]


def probe_rows(probes: list[dict]) -> list[list[str]]:
    return [[p["step"], f"{p['cpu_ms']:.1f}", f"{p['wall_ms']:.1f}"] for p in probes]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
