"""`invoke bench` itself, small: 2 plain hosts, 1 round, every contestant runs and the table comes out.

No timing is asserted (the machine is shared); only that each contestant did its work on
every host and that remediate's round trips are counted and within budget.
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
        BenchOptions(rounds=1, warmup=0, hosts=2, forks=2, scale=(2, 6), out=out, lab=LAB, keep_lab=keep), log=print
    )
    printed = capsys.readouterr().out

    assert json.loads(out.read_text()) == doc
    names = [c.name for c in CONTESTANTS]
    assert [s["contestant"] for s in doc["summary"]] == names
    assert sorted(r["contestant"] for r in doc["runs"]) == sorted(names)
    assert all(r["hosts"] == 2 and r["seconds"] > 0 for r in doc["runs"])
    for name in names:
        assert any(line.startswith(name + " ") for line in printed.splitlines()), name
    for name, budget in ROUND_TRIP_BUDGET.items():
        trips = next(r["round_trips"] for r in doc["runs"] if r["contestant"] == name)
        assert len(trips) == 2 and all(1 <= t <= budget for t in trips), (name, trips)
    assert {t["target"]: t["met"] for t in doc["targets"]}["remediate: at most 3 round trips per host"]
    assert [p["hosts"] for p in doc["scale"]["points"]] == [2, 6]
    assert all(p["max_rss_mb"] > 0 for p in doc["scale"]["points"])

    logs = out.parent / "bench-logs"
    assert "changed=3" in (logs / "ansible.log").read_text()  # daemon.json, the drop-in dir and the drop-in
    pyinfra_log = (logs / "pyinfra.log").read_text()
    assert "Will create /etc/docker/daemon.json" in pyinfra_log and '+   "icc": false,' in pyinfra_log
    assert "floor: read" in (logs / "floor.log").read_text()
    if not keep:
        assert not bench_lab(LAB).hosts()
