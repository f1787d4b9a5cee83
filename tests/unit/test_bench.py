"""The benchmark harness without a lab: fleets, measuring a child process, summaries and targets."""

from __future__ import annotations

import sys

import pytest

from remediate.bench import contestants as cs
from remediate.bench import inventory, measure, report
from remediate.bench.measure import Run, ScalePoint
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


def test_run_once_measures_the_child_and_reports_a_failure_with_its_output(tmp_path):
    fleet = inventory.BenchInventory(BASE, tmp_path / "i.yml", tmp_path / "h.json")
    run = measure.run_once(
        python_contestant("b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096])"),
        fleet,
        4,
        tmp_path / "s",
        0,
        tmp_path / "ok.log",
    )
    assert run.rc == 0 and run.hosts == 3 and run.seconds > 0 and run.round_trips is None
    assert run.max_rss_kb > 64 * 1024  # wait4 saw the child's own peak
    with pytest.raises(cs.BenchError, match=r"probe failed \(exit 3\).*\n.*boom"):
        measure.run_once(
            python_contestant("print('boom'); raise SystemExit(3)"), fleet, 4, tmp_path / "s", 0, tmp_path / "fail.log"
        )


def test_children_keep_their_bytecode_cache(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert "PYTHONDONTWRITEBYTECODE" not in measure.child_env()


def run(name, seconds, trips=None):
    return Run(name, 0, 20, seconds, 0, 1.0, 2.0, 50 * 1024, trips)


def test_summary_ratios_and_targets():
    runs = {
        "remediate": [run("remediate", s, [3, 2]) for s in (1.0, 1.2, 5.0)],
        "remediate audit": [run("remediate audit", 0.9, [2, 2])],
        "ansible": [run("ansible", 30.0)],
        "pyinfra": [run("pyinfra", 3.0)],
        "floor": [run("floor", 0.9)],
    }
    summary = {s.contestant: s for s in measure.summarize(runs, "remediate")}
    assert (summary["remediate"].median, summary["remediate"].min, summary["remediate"].max) == (1.2, 1.0, 5.0)
    assert summary["ansible"].ratio == 25.0 and summary["remediate"].round_trips_max == 3
    verdict = {t["target"]: t for t in report.targets(list(summary.values()))}
    assert verdict["remediate >= 25x faster than Ansible"]["met"]
    assert not verdict["remediate >= 3x faster than pyinfra"]["met"]
    assert verdict["remediate <= 1.5x the floor"] == {
        "target": "remediate <= 1.5x the floor",
        "measured": "1.33x the floor",
        "met": True,
    }
    assert verdict["remediate: at most 3 round trips per host"]["met"]
    assert verdict["remediate audit: at most 2 round trips per host"]["met"]


def test_scale_marginal_cost_per_added_host():
    points = [
        ScalePoint(20, 2.0, 60.0, 0.1, 3),
        ScalePoint(100, 6.0, 80.0, 0.06, 3),
        ScalePoint(500, 26.0, 180.0, 0.052, 3),
    ]
    assert measure.marginal(points) == [
        {"from": 20, "to": 100, "seconds_per_host": 0.05, "kb_per_host": 256.0},
        {"from": 100, "to": 500, "seconds_per_host": 0.05, "kb_per_host": 256.0},
    ]
    verdict = report.scale_verdict(points)
    assert verdict["seconds_per_host_growth"] == 0.52 and verdict["kb_per_host"] == 256.0


def test_the_table_splits_cpu_between_the_contestant_and_the_hosts(capsys):
    """The column that shows what bounds wall time on shared cores: the hosts' CPU per host."""
    summary = [
        measure.Summary("remediate", 3.0, 2.9, 3.2, 1.0, 1.1, 6.1, 56.0, 2),
        measure.Summary("floor", 1.5, 1.4, 1.6, 0.5, 0.4, 2.4, 54.0, None),
    ]
    doc = {
        "options": {"hosts": 20, "forks": 10, "rounds": 5},
        "machine": {"load_before": [0.1], "load_after": [9.0], "cpus": 2},
        "summary": [s.to_json() for s in summary],
        "targets": [],
        "scale": None,
    }
    report.show(doc)
    lines = capsys.readouterr().out.splitlines()
    assert "hosts' CPU ms/host" in next(line for line in lines if line.startswith("contestant"))
    assert next(line for line in lines if line.startswith("remediate")).split()[5:8] == ["6.1", "1.1", "250"]
    assert next(line for line in lines if line.startswith("floor")).split()[5:8] == ["2.4", "0.4", "100"]
