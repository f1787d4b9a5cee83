"""The SSH transport against real OpenSSH servers in the lab."""

from __future__ import annotations

import logging
import socket
import subprocess
import time

import pytest

from remediate.connection import ConnectOptions, connect
from remediate.connection.batch import Batch, run_batch
from remediate.errors import AuthenticationFailed, BecomeFailed, CommandTimeout, HostKeyRejected, Unreachable
from remediate.inventory import load_inventory
from remediate.inventory.model import Host

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def inventory(lab):
    return load_inventory(lab.inventory_path)


def options(**changes) -> ConnectOptions:
    """Only the lab's known_hosts (from the inventory), never this machine's ~/.ssh."""
    return ConnectOptions(known_hosts=[], ssh_config=None, **changes)


def open_conn(inventory, name, **changes):
    return connect(inventory.host(name), options(**changes), resolve_host=lambda n: inventory.hosts.get(n))


def with_vars(host: Host, **changes) -> Host:
    return Host(name=host.name, vars={**host.vars, **changes}, groups=host.groups)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_strict_key_check_refuses_an_unknown_host(inventory, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(empty))
    with pytest.raises(HostKeyRejected, match=r"unknown.*ssh-keyscan"):
        connect(host, options())
    assert empty.read_text() == ""


def test_changed_key_is_refused_even_with_accept_new(lab, inventory, tmp_path):
    stock, other = lab.hosts["stock"], lab.hosts["hardened"]
    forged = tmp_path / "known_hosts"
    forged.write_text(f"[127.0.0.1]:{stock.port} {other.host_key}\n")
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(forged))
    for accept in (False, True):
        with pytest.raises(HostKeyRejected, match="REMOTE HOST IDENTIFICATION HAS CHANGED") as info:
            connect(host, options(accept_new_host_keys=accept))
        assert f"{forged}:1" in str(info.value)
    assert forged.read_text() == f"[127.0.0.1]:{stock.port} {other.host_key}\n"


def test_accept_new_records_the_key_then_strict_mode_trusts_it(lab, inventory, tmp_path):
    fresh = tmp_path / "known_hosts"
    host = with_vars(inventory.host("stock"), remediate_known_hosts=str(fresh))
    with connect(host, options(accept_new_host_keys=True)) as conn:
        assert conn.run(["hostname"]).stdout == b"stock\n"
    assert fresh.read_text() == f"[127.0.0.1]:{lab.hosts['stock'].port} {lab.hosts['stock'].host_key}\n"
    with connect(host, options()) as conn:
        assert conn.run(["true"]).rc == 0


def test_proxy_jump_through_the_bastion(lab, inventory):
    via = inventory.host("stock-via-bastion")
    jump_port = lab.hosts["stock"].jump_port
    assert via.vars["ansible_port"] == jump_port
    with pytest.raises(Unreachable):  # that port exists only inside the bastion's network namespace
        connect(with_vars(via, remediate_proxy_jump="none"), options(connect_timeout=3))
    with open_conn(inventory, "stock-via-bastion") as conn:
        assert conn.run(["hostname"]).stdout == b"stock\n"
        assert "via root@127.0.0.1" in repr(conn)


def test_proxy_jump_checks_the_bastion_host_key_too(lab, inventory, tmp_path):
    only_target = tmp_path / "known_hosts"
    only_target.write_text(f"[127.0.0.1]:{lab.hosts['stock'].jump_port} {lab.hosts['stock'].host_key}\n")
    host = with_vars(inventory.host("stock-via-bastion"), remediate_known_hosts=str(only_target))
    with pytest.raises(HostKeyRejected, match=f"unknown.*{lab.hosts['bastion'].port}"):
        connect(host, options())


def test_become_with_the_right_password(inventory, lab, caplog):
    caplog.set_level(logging.DEBUG)
    with open_conn(inventory, "stock-ops") as conn:
        assert conn.run(["id", "-un"]).stdout == b"ops\n"
        assert conn.run(["id", "-un"], become=True).stdout == b"root\n"
        data = b"payload\x00bytes\n\xff"
        assert conn.run(["cat"], stdin=data, become=True).stdout == data
        assert conn.run(["cat"], become=True).stdout == b""  # the password line never reaches a command
        assert lab.ops_password not in repr(conn)
    assert "exec" in caplog.text and lab.ops_password not in caplog.text


def test_become_batch_reads_root_only_files_in_one_round_trip(inventory):
    with open_conn(inventory, "stock-ops") as conn:
        results = run_batch(
            conn, Batch().add_read("shadow", "/etc/shadow").add_command("who", ["id", "-un"]), become=True
        )
        assert conn.round_trips == 1
        assert results["shadow"].file.stat.mode == 0o640 and results["shadow"].file.content.startswith(b"root:")
        assert results["who"].stdout == b"root\n"


def test_become_with_a_wrong_password_fails_fast_and_says_why(inventory, lab):
    host = with_vars(inventory.host("stock-ops"), ansible_become_password="wrong-" + lab.ops_password)
    with connect(host, options()) as conn:
        for stdin in (b"never-for-sudo\n", None):
            started = time.monotonic()
            with pytest.raises(BecomeFailed, match="incorrect sudo password") as info:
                conn.run(["cat"], stdin=stdin, become=True)
            assert time.monotonic() - started < 10
            assert "wrong-" not in str(info.value) and lab.ops_password not in str(info.value)


def test_become_without_password_uses_sudo_n(inventory):
    host = Host(
        name="stock-ops",
        vars={k: v for k, v in inventory.host("stock-ops").vars.items() if k != "ansible_become_password"},
        groups=(),
    )
    with connect(host, options()) as conn:
        started = time.monotonic()
        with pytest.raises(BecomeFailed, match="requires a password but none was configured"):
            conn.run(["true"], become=True)
        assert time.monotonic() - started < 5


def test_wrong_key_is_an_authentication_failure(inventory, tmp_path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host = with_vars(inventory.host("stock"), ansible_ssh_private_key_file=str(key))
    with pytest.raises(AuthenticationFailed, match="refused every key"):
        connect(host, options())


def test_unreachable_port_fails_fast(inventory):
    free = free_port()
    host = with_vars(inventory.host("stock"), ansible_port=free)
    started = time.monotonic()
    with pytest.raises(Unreachable, match=f"127.0.0.1:{free}: connection refused"):
        connect(host, options(connect_timeout=3))
    assert time.monotonic() - started < 5


def test_hostile_values_in_remote_commands_create_nothing(inventory):
    hostile = [
        "$(touch /tmp/pwned1)",
        "`touch /tmp/pwned2`",
        "x; touch /tmp/pwned3",
        "a\ntouch /tmp/pwned4",
        "'; touch /tmp/pwned5; '",
        "{{ lookup('pipe','touch /tmp/pwned6') }}",
        "-rf",
        "--",
    ]
    with open_conn(inventory, "stock-ops") as conn:
        for value in hostile:
            assert conn.run(["printf", "%s", value]).stdout == value.encode()
            assert conn.run(["printf", "%s", value], become=True).stdout == value.encode()
        batch = Batch()
        for i, value in enumerate(hostile):
            batch.add_read(f"r{i}", value)
            batch.add_command(f"c{i}", ["printf", "%s", value])
        results = run_batch(conn, batch, become=True)
        assert all(results[f"c{i}"].stdout == v.encode() for i, v in enumerate(hostile))
        left = conn.run(["sh", "-c", "ls /tmp/pwned* 2>/dev/null | wc -l"]).stdout.strip()
        assert left == b"0"


def test_batched_read_over_ssh_returns_exact_bytes(lab, inventory):
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
        assert results["bin"].stdout == payload and results["bin"].file.stat.size == len(payload)
        assert not results["daemon"].file.exists
        engine_version = lab.lab.engine_info()["dockerd"]  # what the lab's image holds, e.g. 28.5.2+dfsg4
        assert results["version"].stdout.startswith(f"Docker version {engine_version}".encode())
        conn.run(["rm", "-f", "/root/binary.dat"])
        assert conn.round_trips - before == 2


def test_one_connection_serves_many_commands(inventory):
    with open_conn(inventory, "stock") as conn:
        # The parent of each command is the sshd process of our one login session.
        parents = {conn.run(["sh", "-c", "echo $PPID"]).stdout for _ in range(5)}
        assert conn.round_trips == 5
        assert len(parents) == 1
    with open_conn(inventory, "stock") as other:
        assert other.run(["sh", "-c", "echo $PPID"]).stdout not in parents


def test_packets_are_sent_without_nagle_delay(inventory):
    """Back-to-back SSH packets (a channel's close, the next one's open) must not wait for a delayed ACK."""
    with open_conn(inventory, "stock") as conn:
        sock = conn._transport.sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_timeout_stops_a_hanging_command(inventory):
    with open_conn(inventory, "stock") as conn:
        started = time.monotonic()
        with pytest.raises(CommandTimeout):
            conn.run(["sleep", "30"], timeout=1)
        assert time.monotonic() - started < 5
        assert conn.run(["echo", "still usable"]).stdout == b"still usable\n"


def test_one_unreachable_host_does_not_stop_the_others(inventory):
    hosts = [
        inventory.host("stock"),
        with_vars(inventory.host("hardened"), ansible_port=free_port()),
        inventory.host("custom-settings"),
    ]
    outcomes = {}
    for host in hosts:
        try:
            with connect(host, options(connect_timeout=3)) as conn:
                outcomes[host.name] = conn.run(["hostname"]).stdout.decode().strip()
        except Unreachable as exc:
            outcomes[host.name] = "unreachable"
            assert host.name in str(exc)
    assert outcomes == {"stock": "stock", "hardened": "unreachable", "custom-settings": "custom-settings"}
