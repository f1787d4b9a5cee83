"""Running contestants and measuring them: wall time, CPU, peak memory, round trips.

Each run is a child process timed from spawn to exit; os.wait4 gives its
own CPU time and peak RSS (the largest process of it and its reaped children).
The whole machine's busy CPU time is read from /proc/stat around each run:
lab hosts are namespaces on this machine, so host-side work is visible there.
Rounds alternate the order, so no contestant always runs first or last.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from remediate.app import EXIT_UNREACHABLE
from remediate.bench.contestants import BenchError, Command, Contestant
from remediate.bench.inventory import BenchInventory
from remediate.bench.turns import TurnLogs

RUN_TIMEOUT = 900.0
GNU_TIME = Path("/usr/bin/time")
# Contestants run as a person's shell would run them. This session-only switch would make remediate
# (installed from source) compile every module on every start, while pip precompiled the others.
DROPPED_ENV = ("PYTHONDONTWRITEBYTECODE",)


@dataclass
class Run:
    contestant: str
    round: int
    hosts: int
    seconds: float
    rc: int
    cpu_seconds: float  # the child's user + system time, with its reaped children
    machine_cpu_seconds: float  # every core's busy time meanwhile: controller and lab hosts
    max_rss_kb: int
    round_trips: list[int] | None = None  # remediate: exec rounds per host, from its results document
    rtt_ms: float = 0.0  # the lab's round trip during the run
    connections: int | None = None  # SSH connections the run opened, counted by the lab's relay
    turns: int | None = None  # round trips those connections waited for (relay.py's turns), all hosts
    failed_hosts: int = 0  # only where failures are tolerated (the scale runs)

    def to_json(self) -> dict:
        return asdict(self)


def machine_busy_seconds(stat: Path = Path("/proc/stat")) -> float:
    """Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal)."""
    fields = stat.read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}


def run_once(
    contestant: Contestant,
    fleet: BenchInventory,
    forks: int,
    scratch: Path,
    round_no: int,
    log_path: Path,
    turn_logs: TurnLogs | None = None,
    rtt_ms: float = 0.0,
    unreachable_ok: bool = False,
) -> Run:
    """Run one contestant once; a failure is a BenchError with the end of its output.

    turn_logs: the relay logs of the fleet's lab hosts (a lab with latency); their connections and turns
    during the run are counted once the contestant and its cleanup are done.
    unreachable_ok: hosts remediate could not reach are counted, not fatal (many forks on few lab hosts
    can overload them: that is a result of the scale run, not a reason to lose the whole bench)."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    command = contestant.command(fleet, forks, scratch)
    marks = turn_logs.mark() if turn_logs else {}
    try:
        seconds, rc, usage, machine, peak_kb = _spawn(command, log_path)
    finally:
        if command.after:
            command.after()
    counted = turn_logs.since(marks) if turn_logs else None
    if rc not in command.ok_codes and not (unreachable_ok and rc == EXIT_UNREACHABLE):
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-15:])
        raise BenchError(f"{contestant.name} failed (exit {rc}); its output is in {log_path}:\n{tail}")
    trips, failed = _round_trips(command, fleet, unreachable_ok)
    return Run(
        contestant.name,
        round_no,
        len(fleet.hosts),
        round(seconds, 3),
        rc,
        round(usage.ru_utime + usage.ru_stime, 3),
        round(machine, 3),
        peak_kb,
        trips,
        rtt_ms,
        counted.connections if counted else None,
        counted.turns if counted else None,
        failed,
    )


def _spawn(command: Command, log_path: Path):
    """Run the command; (seconds, exit code, its rusage, machine busy seconds, its peak RSS in KB).

    The peak RSS comes from GNU time where it is installed: wait4's ru_maxrss of our own child starts
    from this process's RSS (Linux keeps the larger across fork and exec), and once the harness has
    parsed a 500-host results document every later contestant would show the harness's size."""
    env = {**child_env(), **command.env}
    rss_file = log_path.absolute().with_suffix(".maxrss")  # absolute: a contestant may run in another cwd
    argv = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), "--", *command.argv] if GNU_TIME.exists() else command.argv
    with open(log_path, "wb") as log:
        busy = machine_busy_seconds()
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            cwd=command.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a timeout stops the contestant's whole group, not only GNU time
        )
        timer = threading.Timer(RUN_TIMEOUT, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - started
        machine = machine_busy_seconds() - busy
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 above, not by Popen
    peak = usage.ru_maxrss
    if GNU_TIME.exists() and rss_file.exists():
        peak = int(rss_file.read_text().split()[-1])  # time prints a note before it when the command failed
        rss_file.unlink()
    return seconds, proc.returncode, usage, machine, peak


def _round_trips(command: Command, fleet: BenchInventory, unreachable_ok: bool) -> tuple[list[int] | None, int]:
    """remediate's exec rounds per host it reached, and how many it did not."""
    if command.results is None:
        return None, 0
    doc = json.loads(command.results.read_text())
    hosts = doc["hosts"]
    bad = [h["host"] for h in hosts if h["status"] != "ok"]
    if len(hosts) != len(fleet.hosts) or (bad and not unreachable_ok):
        raise BenchError(f"{command.argv[1]} did not reach every host: {', '.join(bad) or 'hosts missing'}")
    return [h["round_trips"] for h in hosts if h["status"] == "ok"], len(bad)


def rounds(
    contestants: Sequence[Contestant],
    fleet: BenchInventory,
    forks: int,
    count: int,
    warmup: int,
    scratch: Path,
    logs: Path,
    progress: Callable[[Run, bool], None],
    turn_logs: TurnLogs | None = None,
    rtt_ms: float = 0.0,
) -> dict[str, list[Run]]:
    """`warmup` uncounted rounds, then `count` rounds; round r starts with contestant r (mod n)."""
    runs: dict[str, list[Run]] = {c.name: [] for c in contestants}
    for round_no in range(-warmup, count):
        shift = round_no % len(contestants)
        for contestant in [*contestants[shift:], *contestants[:shift]]:
            slug = contestant.name.replace(" ", "-")
            log_path = logs / f"{slug}-{rtt_ms:g}ms.log"
            run = run_once(contestant, fleet, forks, scratch / slug, round_no, log_path, turn_logs, rtt_ms)
            if round_no >= 0:
                runs[contestant.name].append(run)
            progress(run, round_no < 0)
    return runs


@dataclass
class Summary:
    contestant: str
    median: float
    min: float
    max: float
    ratio: float  # median / the reference's median
    cpu_seconds: float  # median of the child's own CPU time
    machine_cpu_seconds: float  # median of the whole machine's busy CPU time
    max_rss_mb: float
    round_trips_max: int | None  # remediate's exec rounds per host (its results document)
    rtt_ms: float = 0.0
    connections_per_host: float | None = None  # from the lab's relay: only with latency
    turns_per_host: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _per_host(items: list[Run], field: str) -> float | None:
    values = [getattr(r, field) / r.hosts for r in items if getattr(r, field) is not None]
    return round(statistics.median(values), 1) if values else None


def summarize(runs: dict[str, list[Run]], reference: str) -> list[Summary]:
    ref = statistics.median(r.seconds for r in runs[reference])
    out = []
    for name, items in runs.items():
        seconds = [r.seconds for r in items]
        trips = [t for r in items for t in (r.round_trips or [])]
        median = statistics.median(seconds)
        out.append(
            Summary(
                name,
                round(median, 3),
                min(seconds),
                max(seconds),
                round(median / ref, 2),
                round(statistics.median(r.cpu_seconds for r in items), 2),
                round(statistics.median(r.machine_cpu_seconds for r in items), 2),
                round(max(r.max_rss_kb for r in items) / 1024, 1),
                max(trips) if trips else None,
                items[0].rtt_ms,
                _per_host(items, "connections"),
                _per_host(items, "turns"),
            )
        )
    return out


@dataclass
class ScalePoint:
    hosts: int
    seconds: float
    max_rss_mb: float
    seconds_per_host: float
    round_trips_max: int
    forks: int = 10
    rtt_ms: float = 0.0
    cpu_seconds: float = 0.0  # the controller's own CPU time
    failed_hosts: int = 0  # inventory hosts the run could not reach (an overloaded lab at many forks)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScaleRun:
    fleet: BenchInventory
    forks: int
    rtt_ms: float = 0.0


def scale(
    contestant: Contestant,
    plan: Sequence[ScaleRun],
    scratch: Path,
    logs: Path,
    progress: Callable[[Run, bool], None],
) -> list[ScalePoint]:
    """One run per (fleet size, forks): wall time, controller CPU and peak memory as the inventory grows.

    The lab must already run at each ScaleRun's rtt_ms (the suite orders them by latency)."""
    points = []
    for item in plan:
        hosts = len(item.fleet.hosts)
        slug = f"scale-{hosts}-forks{item.forks}-{item.rtt_ms:g}ms"
        log_path = logs / f"{slug}.log"
        run = run_once(contestant, item.fleet, item.forks, scratch / slug, 0, log_path, None, item.rtt_ms, True)
        progress(run, False)
        points.append(
            ScalePoint(
                hosts,
                run.seconds,
                round(run.max_rss_kb / 1024, 1),
                round(run.seconds / hosts, 4),
                max(run.round_trips or [0]),
                item.forks,
                item.rtt_ms,
                run.cpu_seconds,
                run.failed_hosts,
            )
        )
    return points


def marginal(points: Sequence[ScalePoint]) -> list[dict]:
    """Cost of each host added between consecutive sizes at the same forks and RTT: flat when cost is linear."""
    series: dict[tuple[int, float], list[ScalePoint]] = {}
    for p in points:
        series.setdefault((p.forks, p.rtt_ms), []).append(p)
    return [
        {
            "from": a.hosts,
            "to": b.hosts,
            "forks": a.forks,
            "rtt_ms": a.rtt_ms,
            "seconds_per_host": round((b.seconds - a.seconds) / (b.hosts - a.hosts), 4),
            "kb_per_host": round((b.max_rss_mb - a.max_rss_mb) * 1024 / (b.hosts - a.hosts), 1),
        }
        for same in (sorted(s, key=lambda p: p.hosts) for s in series.values())
        for a, b in itertools.pairwise(same)
        if b.hosts != a.hosts
    ]
