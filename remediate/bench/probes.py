"""What each probe of remediate's first batch costs a host's CPU, measured on one lab host.

The hosts' CPU per host in the bench tables is one number; this says where it goes. The first
batch exactly as gather() builds it is run on a lab host (through the lab's back door, nsenter,
so no SSH cost is mixed in) step by step: the batch cut after each group of steps (all the file
reads, then each command and snippet), each prefix run a few times, and a group's cost is the
least CPU time of its prefix minus the one before. The empty batch (prologue, temp dir, framing)
and the floor's own script are measured the same way; `sh -c :` under nsenter is the measurement's
own cost and is subtracted from all. SSH's share (sshd's key exchange, auth, session and exec
channel) is not here: it is the rest of the bench's hosts' CPU per host.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import subprocess
import time
from unittest import mock

from remediate.connection.base import script_argv
from remediate.connection.batch import Batch
from remediate.facts import gather
from remediate.lab.host import LabHost, nsenter_argv

# The least CPU time of a few runs: other work on shared cores only ever adds (cache misses, migrations).
REPEAT = 7


class _Captured(Exception):
    """Stops gather() once its first batch is built."""


def first_batch() -> Batch:
    """The first batch gather() sends, built by gather itself (so it never drifts from the real one)."""
    seen: list[Batch] = []

    def capture(conn, batch, **_kw):
        seen.append(batch)
        raise _Captured

    class _Nowhere:
        host_name = "probe-breakdown"
        round_trips = 0

    with mock.patch.object(gather, "run_batch", capture), contextlib.suppress(_Captured):
        gather.gather(_Nowhere())  # type: ignore[arg-type]  # gather only hands it to run_batch before we stop
    return seen[0]


def groups(batch: Batch) -> list[tuple[str, int]]:
    """(label, number of steps up to the group's end): file reads and stats together, each other step alone."""
    out: list[tuple[str, int]] = []
    for index, key in enumerate(batch.keys, start=1):
        label = "read and stat the fixed paths" if key.startswith("file:") else key.removeprefix("cmd:")
        if out and out[-1][0] == label:
            out[-1] = (label, index)
        else:
            out.append((label, index))
    return out


def prefix(batch: Batch, steps: int) -> Batch:
    """The batch cut after `steps` steps (a step only reads earlier steps' output, so any prefix runs)."""
    cut = copy.copy(batch)
    cut._steps = batch._steps[:steps]  # measurement only: Batch has no public way to cut itself
    return cut


def cpu_ms(host: LabHost, argv: list[str]) -> tuple[float, float]:
    """(CPU ms, wall ms) of argv run inside the host, its children included (wait4 of nsenter)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        nsenter_argv(host.pid, argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above
    return (usage.ru_utime + usage.ru_stime) * 1000, (time.monotonic() - started) * 1000


def least_cost(host: LabHost, argv: list[str], repeat: int = REPEAT) -> tuple[float, float]:
    runs = [cpu_ms(host, argv) for _ in range(repeat)]
    return min(c for c, _ in runs), min(w for _, w in runs)


def marginal_costs(cumulative: list[tuple[str, float, float]]) -> list[dict]:
    """Each group's cost from the cumulative costs of its prefix (label, cpu, wall), first row the base."""
    rows = []
    for (_, cpu_before, wall_before), (label, cpu, wall) in itertools.pairwise(cumulative):
        rows.append({"step": label, "cpu_ms": round(cpu - cpu_before, 1), "wall_ms": round(wall - wall_before, 1)})
    return rows


def breakdown(host: LabHost, floor_script: list[str] | None = None) -> list[dict]:
    """Rows for the report: framing, each group of the first batch, its total, and the floor's script."""
    base_cpu, base_wall = least_cost(host, ["sh", "-c", ":"])
    batch = first_batch()
    cumulative = [("", base_cpu, base_wall)]
    for label, steps in [("framing (prologue, temp dir, output frames)", 0), *groups(batch)]:
        script, args = prefix(batch, steps).script()
        cpu, wall = least_cost(host, script_argv(script, args))
        cumulative.append((label, cpu, wall))
    rows = marginal_costs(cumulative)
    total = cumulative[-1]
    rows.append(
        {
            "step": f"remediate's first batch ({len(batch)} steps)",
            "cpu_ms": round(total[1] - base_cpu, 1),
            "wall_ms": round(total[2] - base_wall, 1),
        }
    )
    if floor_script:
        cpu, wall = least_cost(host, floor_script)
        rows.append(
            {"step": "the floor's script", "cpu_ms": round(cpu - base_cpu, 1), "wall_ms": round(wall - base_wall, 1)}
        )
    return rows
