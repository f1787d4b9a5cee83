"""`invoke bench` itself, small: 2 plain hosts, 1 round at 0 and 40 ms RTT, every contestant runs and the tables
come out.

No timing is asserted (the machine is shared); only that each contestant did its work on
every host, that remediate's exec rounds are within budget, and that the relay counted every
contestant's round trips at 40 ms.
"""

from __future__ import annotations

import json
import os

from remediate.bench.contestants import CONTESTANTS, ROUND_TRIP_BUDGET
from remediate.bench.suite import BenchOptions, bench_lab, run_bench

LAB = os.environ.get("REMEDIATE_BENCH_TEST_LAB", "bench-test")


def test_bench_runs_every_contestant_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    keep = bool(os.environ.get("REMEDIATE_KEEP_LAB"))
    doc = run_bench(
        BenchOptions(
            rounds=1,
            warmup=0,
            hosts=2,
            forks=2,
            scale=(2, 6),
            scale_forks=(4,),
            rtt_ms=(0.0, 40.0),
            out=out,
            lab=LAB,
            keep_lab=keep,
        ),
        log=print,
    )
    printed = capsys.readouterr().out

    assert json.loads(out.read_text()) == doc
    names = [c.name for c in CONTESTANTS]
    assert [t["rtt_ms"] for t in doc["rtts"]] == [0.0, 40.0]
    for table in doc["rtts"]:
        assert [s["contestant"] for s in table["summary"]] == names
    assert sorted(r["contestant"] for r in doc["runs"]) == sorted(names * 2)
    assert all(r["hosts"] == 2 and r["seconds"] > 0 for r in doc["runs"])
    for name in names:
        assert sum(line.startswith(f"| {name} |") for line in printed.splitlines()) == 2, name
    for name, budget in ROUND_TRIP_BUDGET.items():
        for trips in (r["round_trips"] for r in doc["runs"] if r["contestant"] == name):
            assert len(trips) == 2 and all(1 <= t <= budget for t in trips), (name, trips)
    # At 40 ms the relay counted every contestant: at least a connection and its handshake per host.
    slow = {s["contestant"]: s for s in doc["rtts"][1]["summary"]}
    assert all(s["connections_per_host"] >= 1 and s["turns_per_host"] >= 4 for s in slow.values()), slow
    assert all(s["turns_per_host"] is None for s in doc["rtts"][0]["summary"])  # no relay at 0 ms
    verdict = {t["target"]: t["met"] for t in doc["targets"]}
    assert verdict["remediate: at most 3 exec rounds per host at 0 ms RTT"]
    assert "remediate <= 1.3x the floor at 40 ms RTT" in verdict
    assert "controller CPU per host <= 2x the floor's at 0 ms RTT" in verdict
    points = [(p["hosts"], p["forks"], p["rtt_ms"]) for p in doc["scale"]["points"]]
    assert points == [(2, 2, 0.0), (6, 2, 0.0), (2, 4, 0.0), (2, 4, 40.0)]
    assert all(p["max_rss_mb"] > 0 and p["cpu_seconds"] > 0 for p in doc["scale"]["points"])
    steps = {p["step"]: p for p in doc["probes"]}
    assert steps["docker_info"]["cpu_ms"] > 0 and "the floor's script" in steps

    logs = out.parent / "bench-logs"
    assert "changed=3" in (logs / "ansible-0ms.log").read_text()  # daemon.json, the drop-in dir and the drop-in
    pyinfra_log = (logs / "pyinfra-40ms.log").read_text()
    assert "Will create /etc/docker/daemon.json" in pyinfra_log and '+   "icc": false,' in pyinfra_log
    assert "floor: read" in (logs / "floor-0ms.log").read_text()
    if not keep:
        assert not bench_lab(LAB).hosts()
