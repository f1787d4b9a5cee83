"""The lab's latency (lab.up --rtt-ms): the round trip an open SSH connection sees, directly and via the bastion.

A functional check of the delaying relay, not a performance assertion: a keepalive global request is
exactly one round trip, so the fastest of a few must be about the asked RTT (a loaded machine only ever adds,
so the least is the path's own round trip; never less than asked).
"""

from __future__ import annotations

import json
import os
import time

import paramiko
import pytest

from remediate.lab.fleet import BASTION, Lab
from remediate.lab.host import Latency

RTT_MS = 40.0
SLACK_MS = 30.0  # scheduling on a shared 2-core machine; a missing delay would show as ~1 ms
LAB = os.environ.get("REMEDIATE_TEST_LAB", "test") + "-rtt"


@pytest.fixture(scope="module")
def lab():
    fleet = Lab(LAB, scenario_names=(), latency=Latency(RTT_MS), log=lambda msg: print(f"[lab {LAB}] {msg}"))
    fleet.up(extra=1)
    yield fleet
    if not os.environ.get("REMEDIATE_KEEP_LAB"):
        fleet.down()


def login(lab: Lab, sock=None, port: int = 0) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port,
        username="root",
        key_filename=str(lab.key_file),
        look_for_keys=False,
        allow_agent=False,
        sock=sock,
        timeout=20,
    )
    return client


def round_trip_ms(client: paramiko.SSHClient, count: int = 9) -> float:
    """Least time of a request the server must answer (sshd refuses an unknown one: one round trip)."""
    transport = client.get_transport()
    assert transport is not None
    times = []
    for _ in range(count):
        started = time.monotonic()
        transport.global_request("keepalive@openssh.com", wait=True)
        times.append((time.monotonic() - started) * 1000)
    return min(times)


def test_a_connection_to_a_host_sees_the_asked_round_trip_and_its_turns_are_logged(lab):
    host = lab.hosts()["stock-01"]
    log = lab.turns_log("stock-01")
    before = log.read_text().count("\n") if log.exists() else 0
    client = login(lab, port=host.port)
    try:
        assert RTT_MS <= round_trip_ms(client) <= RTT_MS + SLACK_MS
    finally:
        client.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        closed = [e for e in map(json.loads, log.read_text().splitlines()[before:]) if e["event"] == "close"]
        if closed:
            break
        time.sleep(0.1)
    # The handshake and login take several turns, then one per request.
    assert len(closed) == 1 and closed[0]["turns"] >= 9 + 4 and closed[0]["up"] > 0 and closed[0]["down"] > 0


def test_through_the_bastion_both_legs_are_delayed(lab):
    hosts = lab.hosts()
    bastion = login(lab, port=hosts[BASTION].port)
    try:
        transport = bastion.get_transport()
        assert transport is not None
        channel = transport.open_channel("direct-tcpip", ("127.0.0.1", hosts["stock-01"].jump_port), ("127.0.0.1", 0))
        inner = login(lab, sock=channel, port=hosts["stock-01"].jump_port)
        try:
            assert 2 * RTT_MS <= round_trip_ms(inner) <= 2 * RTT_MS + 2 * SLACK_MS
        finally:
            inner.close()
    finally:
        bastion.close()


def test_lab_up_without_latency_restarts_the_forwarders_plain(lab):
    plain = Lab(LAB, scenario_names=(), log=lab.log)
    port = lab.hosts()["stock-01"].port
    plain.up(extra=1)
    try:
        host = plain.hosts()["stock-01"]
        assert host.port == port and host.latency == Latency()
        client = login(plain, port=port)
        try:
            assert round_trip_ms(client) < RTT_MS / 2
        finally:
            client.close()
    finally:
        lab.up(extra=1)  # back to the module's latency for any later test
