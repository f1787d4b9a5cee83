"""The SSH transport against real OpenSSH servers in the lab."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from remediate.connection import ConnectOptions, connect
from remediate.connection.batch import Batch, run_batch
from remediate.errors import AuthenticationFailed, BecomeFailed, HostKeyRejected, Unreachable
from remediate.inventory import load_inventory
from remediate.inventory.model import Host


@pytest.fixture(scope="module")
def inventory(lab):
    return load_inventory(lab.inventory_path)


def open_conn(inventory, name, **options):
    return connect(inventory.host(name), ConnectOptions(known_hosts=[], **options),
                   resolve_host=lambda n: inventory.hosts.get(n))


def with_vars(host: Host, **changes) -> Host:
    return Host(name=host.name, vars={**host.vars, **changes}, groups=host.groups)


def test_strict_key_check_refuses_an_unknown_host(inventory, tmp_path):
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(tmp_path / "empty"))
    with pytest.raises(HostKeyRejected, match="unknown"):
        connect(host, ConnectOptions(known_hosts=[]))


def test_changed_key_is_refused_even_with_accept_new(lab, inventory, tmp_path):
    stock, other = lab.hosts["stock"], lab.hosts["hardened"]
    forged = tmp_path / "known_hosts"
    forged.write_text(f"[127.0.0.1]:{stock.port} {other.host_key}\n")
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(forged))
    for accept in (False, True):
        with pytest.raises(HostKeyRejected, match="CHANGED"):
            connect(host, ConnectOptions(known_hosts=[], accept_new_host_keys=accept))
    assert forged.read_text() == f"[127.0.0.1]:{stock.port} {other.host_key}\n"


def test_accept_new_records_the_key_then_strict_mode_trusts_it(lab, inventory, tmp_path):
    fresh = tmp_path / "known_hosts"
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(fresh))
    with connect(host, ConnectOptions(known_hosts=[], accept_new_host_keys=True)) as conn:
        assert conn.run(["hostname"]).stdout == b"stock\n"
    assert fresh.read_text() == f"[127.0.0.1]:{lab.hosts['stock'].port} {lab.hosts['stock'].host_key}\n"
    with connect(host, ConnectOptions(known_hosts=[])) as conn:
        assert conn.run(["true"]).rc == 0


def test_proxy_jump_through_the_bastion(lab, inventory):
    via = inventory.host("stock-via-bastion")
    assert via.vars["ansible_port"] == lab.hosts["stock"].jump_port  # a port that exists only in the bastion
    with open_conn(inventory, "stock-via-bastion") as conn:
        assert conn.run(["hostname"]).stdout == b"stock\n"


def test_become_with_the_right_password(inventory, lab):
    with open_conn(inventory, "stock-ops") as conn:
        assert conn.run(["id", "-un"]).stdout == b"ops\n"
        result = conn.run(["id", "-un"], become=True)
        assert result.stdout == b"root\n"
        data = conn.run(["cat"], stdin=b"payload\x00bytes", become=True)
        assert data.stdout == b"payload\x00bytes"
        assert lab.ops_password not in repr(conn)


def test_become_with_a_wrong_password_fails_fast_and_says_why(inventory, lab):
    host = with_vars(inventory.host("stock-ops"), ansible_become_password="wrong-" + lab.ops_password)
    with connect(host, ConnectOptions(known_hosts=[])) as conn:
        started = time.monotonic()
        with pytest.raises(BecomeFailed, match="incorrect sudo password") as info:
            conn.run(["cat"], stdin=b"never-for-sudo", become=True)
        assert time.monotonic() - started < 10
        assert "wrong-" not in str(info.value)


def test_become_without_password_uses_sudo_n(inventory):
    host = Host(name="stock-ops", vars={k: v for k, v in inventory.host("stock-ops").vars.items()
                                        if k != "ansible_become_password"}, groups=())
    with connect(host, ConnectOptions(known_hosts=[])) as conn:
        with pytest.raises(BecomeFailed, match="requires a password"):
            conn.run(["true"], become=True)


def test_wrong_key_is_an_authentication_failure(inventory, tmp_path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host = with_vars(inventory.host("stock"), ansible_ssh_private_key_file=str(key))
    with pytest.raises(AuthenticationFailed, match="refused every key"):
        connect(host, ConnectOptions(known_hosts=[]))


def test_unreachable_port_fails_fast(inventory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    host = with_vars(inventory.host("stock"), ansible_port=free)
    started = time.monotonic()
    with pytest.raises(Unreachable, match=str(free)):
        connect(host, ConnectOptions(known_hosts=[], connect_timeout=3))
    assert time.monotonic() - started < 5


def test_hostile_values_in_remote_commands_create_nothing(inventory):
    hostile = ["$(touch /tmp/pwned1)", "`touch /tmp/pwned2`", "x; touch /tmp/pwned3", "a\ntouch /tmp/pwned4",
               "'; touch /tmp/pwned5; '", "{{ lookup('pipe','touch /tmp/pwned6') }}"]
    with open_conn(inventory, "stock") as conn:
        for value in hostile:
            assert conn.run(["printf", "%s", value]).stdout == value.encode()
        batch = Batch()
        for i, value in enumerate(hostile):
            batch.add_read(f"r{i}", value)
        run_batch(conn, batch)
        left = conn.run(["sh", "-c", "ls /tmp/pwned* 2>/dev/null | wc -l"]).stdout.strip()
        assert left == b"0"


def test_batched_read_over_ssh_returns_exact_bytes(inventory):
    payload = bytes(range(256)) * 64 + "naïve".encode("latin-1") + b"\xff\xfe\x00"
    with open_conn(inventory, "stock") as conn:
        conn.run(["sh", "-c", 'cat > "$1"', "sh", "/root/binary.dat"], stdin=payload)
        before = conn.round_trips
        batch = Batch()
        batch.add_read("bin", "/root/binary.dat")
        batch.add_read("daemon", "/etc/docker/daemon.json")
        batch.add_command("version", ["dockerd", "--version"])
        results = run_batch(conn, batch)
        assert conn.round_trips - before == 1
        assert results["bin"].stdout == payload
        assert results["daemon"].meta["kind"] == "missing"
        assert results["version"].stdout.startswith(b"Docker version 20.10")
        conn.run(["rm", "-f", "/root/binary.dat"])


def test_one_unreachable_host_does_not_stop_the_others(inventory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    hosts = [inventory.host("stock"), with_vars(inventory.host("hardened"), ansible_port=free),
             inventory.host("custom-settings")]
    outcomes = {}
    for host in hosts:
        try:
            with connect(host, ConnectOptions(known_hosts=[], connect_timeout=3)) as conn:
                outcomes[host.name] = conn.run(["hostname"]).stdout.decode().strip()
        except Unreachable as exc:
            outcomes[host.name] = "unreachable"
            assert host.name in str(exc)
    assert outcomes == {"stock": "stock", "hardened": "unreachable", "custom-settings": "custom-settings"}
