"""The benchmark harness without a lab: fleets, measuring a child process, summaries and targets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from remediate.bench import contestants as cs
from remediate.bench import inventory, measure, probes, report
from remediate.bench.measure import Run, ScalePoint
from remediate.bench.suite import BenchOptions, scale_plan
from remediate.bench.turns import Tally, TurnLogs, tally
from remediate.inventory import load_inventory

BASE = [inventory.BenchHost(f"stock-{i:02d}", "127.0.0.1", 40000 + i) for i in range(1, 4)]
SHARED = {
    "ansible_user": "root",
    "ansible_ssh_private_key_file": "/lab/id_ed25519",
    "remediate_known_hosts": "/lab/known_hosts",
    "remediate_policy": {"daemon": {"icc": False}},
}


def test_aliases_have_distinct_names_and_cycle_over_the_real_hosts():
    hosts = inventory.aliases(BASE, 10)
    assert [h.name for h in hosts[:3]] == ["stock-01", "stock-02", "stock-03"]
    assert hosts[3].name == "stock-01-a1" and hosts[9].name == "stock-01-a3"
    assert len({h.name for h in hosts}) == 10
    assert [h.port for h in hosts] == [BASE[i % 3].port for i in range(10)]
    assert inventory.aliases(BASE, 2) == BASE[:2]
    with pytest.raises(ValueError):
        inventory.aliases([], 5)


def test_written_fleet_is_one_inventory_for_remediate_and_ansible_plus_a_host_list(tmp_path):
    fleet = inventory.write(tmp_path, BASE, SHARED, 500)
    loaded = load_inventory(fleet.yaml_path)
    hosts = loaded.select(inventory.GROUP)
    assert len(hosts) == 500
    alias = loaded.host("stock-02-a7")
    assert (alias.vars["ansible_host"], alias.vars["ansible_port"]) == ("127.0.0.1", BASE[1].port)
    assert alias.vars["remediate_known_hosts"] == "/lab/known_hosts"
    assert alias.vars["remediate_policy"] == {"daemon": {"icc": False}}
    assert "UserKnownHostsFile=/lab/known_hosts" in alias.vars["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in alias.vars["ansible_ssh_common_args"]
    listed = __import__("json").loads(fleet.json_path.read_text())
    assert len(listed) == 500 and listed[4] == {
        "name": "stock-02-a1",
        "host": "127.0.0.1",
        "port": BASE[1].port,
        "user": "root",
        "key": "/lab/id_ed25519",
        "known_hosts": "/lab/known_hosts",
    }


def test_missing_bench_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(cs.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(cs.BenchError, match=r"pip install -e '\.\[bench\]'"):
        cs.check_tools()


def test_machine_busy_time_counts_everything_but_idle_and_iowait(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 5000 70 4 6 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    monkeypatch.setattr(measure.os, "sysconf", lambda name: 100)
    assert measure.machine_busy_seconds(stat) == pytest.approx(1.7)


def python_contestant(code: str, ok_codes=(0,)) -> cs.Contestant:
    return cs.Contestant(
        "probe",
        "a python child",
        lambda fleet, forks, scratch: cs.Command([sys.executable, "-c", code], ok_codes=ok_codes),
    )


def run_64_mb(fleet, forks: int, tmp_path):
    """One run of a child that touches 64 MB of its own."""
    child = python_contestant("b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096])")
    return measure.run_once(child, fleet, forks, tmp_path / "s", 0, tmp_path / "run.log")


def test_run_once_measures_the_child_and_reports_a_failure_with_its_output(tmp_path):
    fleet = inventory.BenchInventory(BASE, tmp_path / "i.yml", tmp_path / "h.json")
    run = run_64_mb(fleet, 4, tmp_path)
    assert run.rc == 0 and run.hosts == 3 and run.seconds > 0 and run.round_trips is None
    assert run.max_rss_kb > 64 * 1024  # wait4 saw the child's own peak
    with pytest.raises(cs.BenchError, match=r"probe failed \(exit 3\).*\n.*boom"):
        measure.run_once(
            python_contestant("print('boom'); raise SystemExit(3)"), fleet, 4, tmp_path / "s", 0, tmp_path / "fail.log"
        )


def test_children_keep_their_bytecode_cache(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert "PYTHONDONTWRITEBYTECODE" not in measure.child_env()


def run(name, seconds, trips=None, rtt=0.0, cpu=1.0, machine=2.0, turns=None):
    return Run(name, 0, 20, seconds, 0, cpu, machine, 50 * 1024, trips, rtt, None if turns is None else 20, turns)


def table(runs, reference="remediate"):
    return [{**s.to_json(), "hosts": 20} for s in measure.summarize(runs, reference)]


def test_summary_ratios_round_trips_and_the_speed_targets_at_latency():
    runs = {
        "remediate": [run("remediate", s, [3, 2], 40.0, turns=t) for s, t in ((1.0, 200), (1.2, 220), (5.0, 240))],
        "remediate audit": [run("remediate audit", 0.9, [2, 2], 40.0, turns=180)],
        "ansible": [run("ansible", 30.0, rtt=40.0, turns=2000)],
        "pyinfra": [run("pyinfra", 3.0, rtt=40.0, turns=600)],
        "floor": [run("floor", 0.9, rtt=40.0, turns=140)],
    }
    summary = {s["contestant"]: s for s in table(runs)}
    assert (summary["remediate"]["median"], summary["remediate"]["min"], summary["remediate"]["max"]) == (1.2, 1.0, 5.0)
    assert summary["ansible"]["ratio"] == 25.0 and summary["remediate"]["round_trips_max"] == 3
    # Round trips per host come from the relay's turns of each run: the median run's, per inventory host.
    assert summary["remediate"]["turns_per_host"] == 11.0 and summary["ansible"]["turns_per_host"] == 100.0
    assert summary["floor"]["connections_per_host"] == 1.0
    verdict = {t["target"]: t for t in report.targets(list(summary.values()))}
    assert verdict["remediate >= 25x faster than Ansible at 40 ms RTT"]["met"]
    assert not verdict["remediate >= 4x faster than pyinfra at 40 ms RTT"]["met"]
    assert verdict["remediate <= 1.3x the floor at 40 ms RTT"] == {
        "target": "remediate <= 1.3x the floor at 40 ms RTT",
        "measured": "1.33x the floor",
        "met": False,
    }
    assert verdict["remediate: at most 3 exec rounds per host at 40 ms RTT"]["met"]
    assert not any("CPU" in t for t in verdict)  # CPU is judged where the lab measures CPU: at 0 ms


def test_cpu_targets_at_zero_latency_compare_per_host_cpu_with_the_floor():
    runs = {
        "remediate": [run("remediate", 3.0, [2], cpu=1.0, machine=5.0)],  # 50 ms controller, 200 ms hosts'
        "floor": [run("floor", 1.5, cpu=0.4, machine=2.4)],  # 20 ms, 100 ms
    }
    verdict = {t["target"]: t for t in report.targets(table(runs))}
    controller = verdict["controller CPU per host <= 2x the floor's at 0 ms RTT"]
    assert controller == {
        "target": "controller CPU per host <= 2x the floor's at 0 ms RTT",
        "measured": "50 ms vs 20 ms (2.50x)",
        "met": False,
    }
    assert not verdict["hosts' CPU per host <= 1.5x the floor's at 0 ms RTT"]["met"]
    assert not any("faster" in t for t in verdict)


def test_scale_marginal_cost_per_added_host_and_its_targets():
    points = [
        ScalePoint(20, 2.0, 60.0, 0.1, 3),
        ScalePoint(100, 6.0, 80.0, 0.06, 3),
        ScalePoint(500, 26.0, 180.0, 0.052, 3),
        ScalePoint(500, 20.0, 190.0, 0.04, 3, forks=50),  # another series: not a size step
    ]
    assert measure.marginal(points) == [
        {"from": 20, "to": 100, "forks": 10, "rtt_ms": 0.0, "seconds_per_host": 0.05, "kb_per_host": 256.0},
        {"from": 100, "to": 500, "forks": 10, "rtt_ms": 0.0, "seconds_per_host": 0.05, "kb_per_host": 256.0},
    ]
    verdict = {t["target"]: t for t in report.scale_verdict(points)["targets"]}
    assert verdict["peak RSS <= 300 MB on 500 hosts"] == {
        "target": "peak RSS <= 300 MB on 500 hosts",
        "measured": "180 MB",
        "met": True,
    }
    linear = next(t for name, t in verdict.items() if name.startswith("time linear"))
    assert linear["met"] and linear["measured"] == "50 vs 50 ms per added host"
    slower = [*points[:2], ScalePoint(500, 46.0, 180.0, 0.092, 3)]  # 100 ms per added host after 50
    assert not next(t for t in report.scale_verdict(slower)["targets"] if t["target"].startswith("time"))["met"]
    # A run that could not reach every host did not hold its memory target, whatever its peak.
    lost = [*points[:2], ScalePoint(500, 26.0, 180.0, 0.052, 3, failed_hosts=7)]
    rss = report.scale_verdict(lost)["targets"][0]
    assert not rss["met"] and rss["measured"] == "180 MB (7 hosts not reached)"


def test_the_scale_plan_runs_sizes_at_the_lowest_rtt_and_forks_at_every_rtt(tmp_path):
    fleets = {n: inventory.BenchInventory(BASE, tmp_path / f"{n}.yml", tmp_path / f"{n}.json") for n in (20, 500, 5000)}
    opts = BenchOptions(rtt_ms=(40.0, 0.0), scale=(20, 500, 5000), scale_forks=(10, 50, 200))
    plan = [(item.fleet.yaml_path.stem, item.forks, item.rtt_ms) for item in scale_plan(opts, fleets)]
    assert plan == [
        ("20", 10, 0.0),
        ("500", 10, 0.0),
        ("5000", 10, 0.0),
        ("500", 50, 0.0),
        ("500", 200, 0.0),
        ("500", 10, 40.0),
        ("500", 50, 40.0),
        ("500", 200, 40.0),
    ]


def test_the_tables_are_markdown_and_split_cpu_between_the_contestant_and_the_hosts(capsys):
    """The columns that show what bounds wall time on shared cores: CPU per host, controller and hosts'."""
    summary = [
        measure.Summary("remediate", 3.0, 2.9, 3.2, 1.0, 1.1, 6.1, 56.0, 2, 40.0, 1.0, 11.0),
        measure.Summary("floor", 1.5, 1.4, 1.6, 0.5, 0.4, 2.4, 54.0, None, 40.0, 1.0, 7.0),
    ]
    doc = {
        "options": {"hosts": 20, "forks": 10, "rounds": 5},
        "machine": {"load_before": [0.1], "load_after": [9.0], "cpus": 2},
        "rtts": [{"rtt_ms": 40.0, "summary": [{**s.to_json(), "hosts": 20} for s in summary]}],
        "targets": [
            {"target": "remediate <= 1.3x the floor at 40 ms RTT", "measured": "2.00x the floor", "met": False}
        ],
        "scale": report.scale_verdict([ScalePoint(20, 2.0, 60.0, 0.1, 2, 10, 0.0, 0.8)]),
        "probes": [{"step": "docker_info", "cpu_ms": 30.2, "wall_ms": 41.0}],
    }
    report.show(doc)
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("| contestant"))
    assert "hosts' CPU ms/host" in header and "round trips/host" in header
    cells = lambda name: [c.strip() for c in next(x for x in lines if x.startswith(f"| {name} ")).split("|")[1:-1]]  # noqa: E731 (a test's shorthand)
    assert cells("remediate")[5:] == ["6.1", "55", "250", "56", "1.0", "11.0", "2"]
    assert cells("floor")[5:] == ["2.4", "20", "100", "54", "1.0", "7.0", ""]
    assert "#### RTT 40 ms" in out and "- **not met**: remediate <= 1.3x the floor at 40 ms RTT: 2.00x the floor" in out
    assert "| 0 | 20 | 10 | 2.00 | 100 | 40 | 60 |  |  | 2 | 0 |" in out
    assert "| docker_info | 30.2 | 41.0 |" in out


def test_relay_logs_count_the_connections_a_run_opened(tmp_path):
    log = tmp_path / "turns.jsonl"
    log.write_text('{"event": "open", "id": "1-1"}\n{"event": "close", "id": "1-1", "turns": 9}\n')
    logs = TurnLogs([log, tmp_path / "never-connected.jsonl"])
    marks = logs.mark()
    with log.open("a") as f:
        f.write('{"event": "open", "id": "1-2"}\n{"event": "open", "id": "1-3"}\n')
        f.write('{"event": "close", "id": "1-3", "turns": 7}\n{"event": "close", "id": "1-2", "turns": 8}\n')
        f.write('{"event": "open", "id": "1-4"')  # still being written: not read yet
    assert logs.since(marks) == Tally(connections=2, turns=15, open=0)
    assert tally(['{"event": "open", "id": "a"}', '{"event": "close", "id": "b", "turns": 3}']) == Tally(0, 0, 1)
    assert logs.since({log: 0}, timeout=0.2).open == 0  # a partial line is never an open connection


def test_the_probe_breakdown_measures_the_batch_gather_really_sends():
    batch = probes.first_batch()
    labels = [label for label, _ in probes.groups(batch)]
    assert labels[0] == "read and stat the fixed paths" and "docker_info" in labels and "systemd" in labels
    assert len(labels) == len(set(labels)) and probes.groups(batch)[-1][1] == len(batch)
    cut = probes.prefix(batch, 3)
    assert cut.keys == batch.keys[:3] and len(batch) > 3  # the original is left whole
    script, args = cut.script()
    assert script.count('r="$r $?"') == 3 and len(args) <= len(batch.script()[1])
    assert probes.marginal_costs([("", 5.0, 9.0), ("a", 12.0, 20.0), ("b", 42.0, 70.0)]) == [
        {"step": "a", "cpu_ms": 7.0, "wall_ms": 11.0},
        {"step": "b", "cpu_ms": 30.0, "wall_ms": 50.0},
    ]


def test_a_scale_run_counts_unreachable_hosts_instead_of_failing(tmp_path):
    """Many forks on a few lab hosts can overload them: the scale table shows it, the bench goes on."""
    fleet = inventory.BenchInventory(BASE, tmp_path / "i.yml", tmp_path / "h.json")
    results = tmp_path / "results.json"
    hosts = [{"host": h.name, "status": "ok", "round_trips": 2} for h in BASE[:2]]
    hosts.append({"host": BASE[2].name, "status": "unreachable", "round_trips": 0})
    code = (
        f"import json, pathlib; pathlib.Path({str(results)!r}).write_text(json.dumps({{'hosts': {hosts!r}}})); "
        "raise SystemExit(3)"
    )
    contestant = cs.Contestant(
        "remediate",
        "",
        lambda fleet, forks, scratch: cs.Command([sys.executable, "-c", code], cwd=tmp_path, results=results),
    )
    run = measure.run_once(contestant, fleet, 2, tmp_path / "s", 0, tmp_path / "r.log", unreachable_ok=True)
    assert (run.rc, run.round_trips, run.failed_hosts) == (3, [2, 2], 1)
    with pytest.raises(cs.BenchError, match="exit 3"):
        measure.run_once(contestant, fleet, 2, tmp_path / "s", 0, tmp_path / "r.log")


@pytest.mark.skipif(not measure.GNU_TIME.exists(), reason="GNU time measures the peak RSS; without it wait4's is used")
def test_a_contestants_peak_memory_is_its_own_not_the_harness(tmp_path):
    """wait4's ru_maxrss of a child starts from its parent's RSS: a harness grown to 300 MB would show 300 MB."""
    harness = bytearray(300 << 20)
    harness[::4096] = b"x" * len(harness[::4096])
    run = run_64_mb(inventory.BenchInventory(BASE, tmp_path / "i.yml", tmp_path / "h.json"), 1, tmp_path)
    assert 64 * 1024 < run.max_rss_kb < 200 * 1024
    del harness


@pytest.mark.skipif(not measure.GNU_TIME.exists(), reason="GNU time measures the peak RSS; without it wait4's is used")
def test_a_contestant_running_in_another_directory_is_measured_too(tmp_path, monkeypatch):
    """pyinfra runs in bench/: a log path relative to the harness's directory once sent GNU time's output there,
    and the whole bench stopped on `time: …maxrss: No such file or directory`."""
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fleet = inventory.BenchInventory(BASE, tmp_path / "i.yml", tmp_path / "h.json")
    contestant = cs.Contestant(
        "probe",
        "a python child in another directory",
        lambda fleet, forks, scratch: cs.Command([sys.executable, "-c", "pass"], cwd=elsewhere),
    )
    (tmp_path / "logs").mkdir()
    run = measure.run_once(contestant, fleet, 1, tmp_path / "s", 0, Path("logs/probe.log"))
    assert run.rc == 0 and run.max_rss_kb > 0
    assert list(elsewhere.iterdir()) == [] and list((tmp_path / "logs").glob("*.maxrss")) == []
