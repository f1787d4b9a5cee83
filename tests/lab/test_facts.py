"""Facts gathered from real lab hosts: complete, within two round trips, and free of secrets."""

from __future__ import annotations

import json
import subprocess

import pytest

from remediate.app import Target, collect_facts
from remediate.facts.model import CommandFact, HostFacts
from remediate.runner import OK, UNREACHABLE


@pytest.fixture(scope="module")
def fleet_facts(lab, tmp_path_factory):
    save = tmp_path_factory.mktemp("facts")
    target = Target(hosts="lab:access", inventory=str(lab.inventory_path), known_hosts=[])
    outcomes = collect_facts(target, save)
    return {o.host: o for o in outcomes}, save


def test_every_lab_host_answers_within_two_round_trips(fleet_facts):
    outcomes, _ = fleet_facts
    assert all(o.status == OK for o in outcomes.values()), {h: o.error for h, o in outcomes.items()}
    assert all(o.round_trips <= 2 for o in outcomes.values())
    # the packaged units, no drop-ins or rules.d files: round 1 already read every file that matters
    assert outcomes["stock"].round_trips == 1


def test_facts_see_the_seeded_scenarios(fleet_facts):
    outcomes, _ = fleet_facts
    facts = {h: o.value for h, o in outcomes.items()}
    assert facts["stock"].file("/etc/docker/daemon.json").kind == "missing"
    assert facts["loose-perms"].file("/etc/docker").mode == 0o777
    assert facts["loose-perms"].file("/etc/systemd/system/docker.service.d/limits.conf").mode == 0o666
    assert facts["loose-perms"].file("/run/docker.sock").mode == 0o666
    assert b"tcp://0.0.0.0:2375" in facts["tcp-daemon-json"].file("/etc/docker/daemon.json").content
    assert b"ListenStream=2375" in facts["tcp-socket-unit"].file("/etc/systemd/system/docker.socket.d/tcp.conf").content
    assert b"-H tcp://0.0.0.0:2375" in facts["tcp-docker-opts"].file("/etc/default/docker").content
    names = {c["Name"] for c in facts["risky-containers"].parsed.containers.items}
    assert names == {
        "/sock-mount",
        "/sys-admin",
        "/host-namespaces",
        "/privileged",
        "/api-mounts",
        "/publish-all",
        "/sshd",
        "/ssh-inside",
    }
    assert facts["broken-json"].parsed.service.active_state != "active"
    # the journal is read where it explains a stopped dockerd, and skipped where dockerd runs
    assert any("daemon.json" in line for line in facts["broken-json"].parsed.journal)
    assert facts["hardened"].command("journal") == CommandFact(0, "", "") and facts["hardened"].parsed.journal == ()
    info = facts["hardened"].parsed.docker_info
    assert info is not None and "name=userns" in info["SecurityOptions"]


def test_become_as_ops_sees_what_root_sees(fleet_facts):
    outcomes, _ = fleet_facts
    as_ops, as_root = outcomes["stock-ops"].value, outcomes["stock"].value
    assert as_ops.parsed.user == "root"
    assert as_ops.parsed.docker_info is not None and as_root.parsed.docker_info is not None


def test_saved_facts_round_trip_and_hold_no_secret(lab, fleet_facts):
    outcomes, save = fleet_facts
    for host, outcome in outcomes.items():
        text = (save / f"{host}.json").read_text()
        assert lab.container_secret not in text
        assert lab.ops_password not in text
        loaded = HostFacts.load(save / f"{host}.json")
        assert loaded.to_json() == json.loads(text)
        assert loaded.parsed == outcome.value.parsed  # the parsers gather ran give the same typed facts on load


def test_an_unreachable_host_is_reported_and_the_rest_finish(lab, tmp_path):
    broken = tmp_path / "inventory.yml"
    text = lab.inventory_path.read_text().replace(f"ansible_port: {lab.hosts['hardened'].port}", "ansible_port: 1")
    broken.write_text(text)
    outcomes = collect_facts(Target(hosts="hardened,stock,tcp-docker-opts", inventory=str(broken), known_hosts=[]))
    status = {o.host: o.status for o in outcomes}
    assert status == {"hardened": UNREACHABLE, "stock": OK, "tcp-docker-opts": OK}
    assert "127.0.0.1:1" in next(o.error for o in outcomes if o.host == "hardened")


def test_dockerd_version_comes_from_the_running_daemon_until_its_binary_is_replaced(lab):
    """A package upgrade replaces /usr/sbin/dockerd under the running daemon: then the binary is asked."""
    target = Target(hosts="stock", inventory=str(lab.inventory_path), known_hosts=[])

    def version() -> str:
        (outcome,) = collect_facts(target)
        return outcome.value.command("dockerd_version").stdout

    def on_host(script: str) -> None:
        subprocess.run(lab.lab.ssh_argv("stock", [script]), capture_output=True, check=True, timeout=120)

    running = version()
    assert running.startswith("Docker version ") and running.endswith(" (running)\n")
    try:
        # same bytes, new inode: /proc/MainPID/exe now reads "/usr/sbin/dockerd (deleted)"
        on_host("cp -p /usr/sbin/dockerd /usr/sbin/dockerd.new && mv /usr/sbin/dockerd.new /usr/sbin/dockerd")
        asked = version()
        assert ", build " in asked and asked.split()[2].rstrip(",") == running.split()[2]
    finally:
        on_host("systemctl reset-failed docker && systemctl restart docker && systemctl is-active docker")
    assert version() == running
