"""The lab itself: real hosts, each scenario really in place, safe up/down."""

from __future__ import annotations

import json
import subprocess

import pytest

from remediate.lab import scenarios
from remediate.lab.fleet import OPTIONAL_SCENARIOS, SCENARIO_ORDER, Lab
from remediate.lab.host import host_exec
from tests.conftest import TEST_LAB


def test_every_scenario_host_runs_and_holds(lab):
    assert set(SCENARIO_ORDER) | {"bastion"} <= set(lab.hosts)
    for name in SCENARIO_ORDER:
        host = lab.hosts[name]
        assert host.alive(), name
        assert scenarios.verify(scenarios.get(host.scenario), host) == [], name


def test_hosts_are_real_systemd_machines(lab):
    host = lab.hosts["stock"]
    assert host_exec(host, ["readlink", "/proc/1/exe"]).stdout.decode().strip() == "/usr/lib/systemd/systemd"
    assert host_exec(host, ["hostname"]).stdout.decode().strip() == "stock"
    units = host_exec(host, ["systemctl", "is-active", "ssh", "containerd", "docker.socket", "docker"])
    assert units.stdout.decode().split() == ["active"] * 4
    images = host_exec(host, ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.decode()
    assert "busybox:latest" in images.split()


def test_broken_json_really_stops_dockerd(lab):
    host = lab.hosts["broken-json"]
    journal = host_exec(host, ["journalctl", "-u", "docker", "--no-pager"], check=False).stdout.decode()
    assert "daemon.json" in journal
    assert host_exec(host, ["systemctl", "is-active", "docker"], check=False).stdout.decode().strip() != "active"


def test_each_host_has_its_own_host_key_in_known_hosts(lab):
    keys = [h.host_key for h in lab.hosts.values()]
    assert len(set(keys)) == len(keys)
    known = lab.known_hosts.read_text().splitlines()
    for h in lab.hosts.values():
        assert f"[127.0.0.1]:{h.port} {h.host_key}" in known


def test_openssh_logs_in_with_strict_checking(lab):
    argv = lab.lab.ssh_argv("tcp-docker-opts", ["docker info --format '{{json .Name}}'"])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "tcp-docker-opts"


def test_jump_ports_exist_only_inside_the_bastion(lab):
    stock = lab.hosts["stock"]
    outside = subprocess.run(
        ["ss", "-Hltn", f"sport = :{stock.jump_port}"], capture_output=True, text=True, check=False
    )
    assert outside.stdout.strip() == ""
    inside = host_exec(lab.hosts["bastion"], ["ss", "-Hltn", f"sport = :{stock.jump_port}"])
    assert inside.stdout.strip()


def test_up_is_idempotent(lab):
    again = lab.lab.up()
    assert {n: h.init for n, h in again.items()} == {n: h.init for n, h in lab.hosts.items()}


def test_inventory_groups_the_fleet(lab):
    from remediate.inventory import load_inventory

    inventory = load_inventory(lab.inventory_path)
    names = {h.name for h in inventory.select("lab")}
    assert names == set(SCENARIO_ORDER) | set(OPTIONAL_SCENARIOS)  # the shared test lab boots the optional ones too
    assert {h.name for h in inventory.select("jump")} == {"bastion"}
    assert inventory.host("hardened").vars["remediate_scenario"] == "hardened"


@pytest.fixture
def small_lab():
    fleet = Lab(f"{TEST_LAB}-small", scenario_names=("stock",), log=lambda m: None)
    yield fleet
    fleet.down()


def test_down_stops_everything_and_twice_is_harmless(small_lab):
    hosts = small_lab.up()
    refs = [ref for h in hosts.values() for ref in (h.init, h.unshare, h.forwarder, h.jump_forwarder) if ref]
    assert refs and all(ref.alive() for ref in refs)
    assert sorted(small_lab.down()) == sorted(hosts)
    assert not any(ref.alive() for ref in refs)
    assert not (small_lab.dir / "hosts" / "stock").exists()
    assert small_lab.down() == []
