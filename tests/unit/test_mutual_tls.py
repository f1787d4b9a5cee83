"""`tls: true` without `tlsverify` is verified mutual TLS (issue 14 item 1).

dockerd (cmd/dockerd/daemon.go loadDaemonCliConfig, 20.10 to 28.x): `if conf.TLSVerify == nil &&
conf.TLS != nil { conf.TLSVerify = conf.TLS }`, then newAPIServerConfig requires and verifies client
certificates when TLSVerify is nil or true. Only an explicit `tlsverify: false` (or --tlsverify=false)
leaves clients unverified. The facts are the captured tcp-daemon-json host with TLS settings added.
"""

from __future__ import annotations

import json

import pytest

from remediate import checks
from remediate.audit import audit_host
from remediate.checks.model import FAIL, NA, PASS
from remediate.plan import apply_plan, plan_host
from remediate.plan.units import SERVICE_DROPIN, SOCKET_DROPIN
from tests.plan_fixtures import load, policy, with_daemon_json, with_exec_start, with_file

DAEMON_JSON = "/etc/docker/daemon.json"
CA, CERT, KEY = "/etc/docker/tls/ca.pem", "/etc/docker/tls/server-cert.pem", "/etc/docker/tls/server-key.pem"
HOSTS = ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
TLS_FILES = {"tlscacert": CA, "tlscert": CERT, "tlskey": KEY}


def tls_host(**settings):
    """tcp-daemon-json with daemon.json hosts on 2376 plus `settings`, and the TLS files root:root 0444/0400."""
    facts = with_daemon_json(load("tcp-daemon-json"), {"hosts": HOSTS, **settings})
    for path, mode in ((CA, 0o444), (CERT, 0o444), (KEY, 0o400)):
        facts = with_file(facts, path, b"-----BEGIN CERTIFICATE-----\n", mode=mode)
    return facts


def statuses(facts, *check_ids):
    audit = audit_host(facts, policy(), checks.select(), facts.host)
    by_id = {r.check.id: r for r in audit.results}
    return {c: by_id[c].status for c in check_ids}, by_id


def effective(facts):
    from remediate.plan.view import HostView

    return HostView(facts, policy()).effective


def test_tls_true_without_tlsverify_verifies_clients():
    eff = effective(tls_host(tls=True, **TLS_FILES))
    assert (eff.tls.mode, eff.tls.verify, eff.tls.ca) == ("tlsverify", True, CA)
    assert {e.tls for e in eff.tcp_exposures} == {"tlsverify"}
    assert not any("any client is accepted" in n for e in eff.tcp_exposures for n in e.notes)


def test_tls_true_with_tlsverify_false_accepts_any_client():
    eff = effective(tls_host(tls=True, tlsverify=False, **TLS_FILES))
    assert (eff.tls.mode, eff.tls.verify) == ("tls", False)
    assert any("any client is accepted" in n for e in eff.tcp_exposures for n in e.notes)


def test_tls_flag_alone_verifies_against_the_default_ca():
    facts = with_exec_start(
        load("stock"),
        "ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2376 --tls "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    )
    eff = effective(facts)
    assert (eff.tls.mode, eff.tls.ca) == ("tlsverify", "/root/.docker/ca.pem")


def test_tls_flag_false_with_tlsverify_false_is_plain_tcp_with_tls_on():
    """Any tlsverify turns TLS on, whatever --tls says; false then means no client verification."""
    facts = with_exec_start(
        load("stock"),
        "ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2376 --tls=false "
        "--tlsverify=false --containerd=/run/containerd/containerd.sock",
    )
    assert effective(facts).tls.mode == "tls"


def test_mutual_tls_listener_passes_2_7_and_rem_tcp():
    found, results = statuses(
        tls_host(tls=True, **TLS_FILES), "2.7", "REM-TCP", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"
    )
    assert found == dict.fromkeys(found, PASS), found
    assert "tcp://0.0.0.0:2376 (daemon.json hosts" in results["2.7"].evidence[0]
    assert "TLS tlsverify" in results["2.7"].evidence[0]


@pytest.mark.parametrize(
    "settings", [{"tls": True, "tlsverify": False, **TLS_FILES}, {"tls": True, "tlscert": CERT, "tlskey": KEY}]
)
def test_unverified_or_any_public_ca_still_fails(settings):
    found, _ = statuses(tls_host(**settings), "2.7", "REM-TCP")
    assert found == {"2.7": FAIL, "REM-TCP": FAIL}


def test_harden_keeps_a_mutual_tls_listener():
    facts = tls_host(tls=True, **TLS_FILES)
    p = plan_host(facts, policy())
    assert not p.refused, p.refused
    dropin = p.change(SERVICE_DROPIN)
    assert dropin is None or "fd://" not in dropin.after.decode()
    change = p.change(DAEMON_JSON)
    kept = json.loads(change.after) if change else json.loads(facts.file(DAEMON_JSON).content)
    assert kept["hosts"] == HOSTS and kept["tls"] is True and "tlsverify" not in kept
    assert p.change(SOCKET_DROPIN) is None or "ListenStream" not in p.change(SOCKET_DROPIN).after.decode()
    assert not {"2.7", "REM-TCP"} & set(p.still_failing)


def test_harden_removes_a_listener_whose_clients_are_not_verified():
    p = plan_host(tls_host(tls=True, tlsverify=False, **TLS_FILES), policy())
    assert "hosts" not in json.loads(p.change(DAEMON_JSON).after)
    assert "-H fd://" in p.change(SERVICE_DROPIN).after.decode()


ENV_DROPIN = "/etc/systemd/system/docker.service.d/tcp.conf"


def with_environment_tcp(value: str = "-H tcp://0.0.0.0:2375 --log-level=info"):
    """DOCKER_OPTS set by Environment= in an owner's drop-in: the Debian unit expands $DOCKER_OPTS."""
    return with_file(load("stock"), ENV_DROPIN, f'[Service]\nEnvironment="DOCKER_OPTS={value}"\n'.encode())


def test_tcp_from_environment_in_a_drop_in_is_overridden_by_harden():
    """Harden leaves nothing it could fix: a later Environment= in harden's own drop-in overrides the owner's
    (systemd: the last assignment wins), so "remove it by hand" is not needed."""
    facts = with_environment_tcp()
    found, _ = statuses(facts, "2.7", "REM-TCP")
    assert found == {"2.7": FAIL, "REM-TCP": FAIL}
    p = plan_host(facts, policy())
    text = p.change(SERVICE_DROPIN).after.decode()
    assert 'Environment="DOCKER_OPTS=--log-level=info"' in text and "tcp://" not in text
    assert p.change(ENV_DROPIN) is None  # the owner's file stays as written
    assert not {"2.7", "REM-TCP"} & set(p.still_failing)
    assert {"2.7", "REM-TCP"} <= set(p.change(SERVICE_DROPIN).fixes)
    assert not [n for n in p.notes if "by hand" in n]
    after = apply_plan(facts, p)
    assert statuses(after, "2.7", "REM-TCP")[0] == {"2.7": NA, "REM-TCP": PASS}  # no TCP endpoint left
    assert plan_host(after, policy()).empty


def test_a_listener_trusting_every_public_ca_is_held_back_with_its_reason():
    """Verified against the system roots (no tlscacert): removing the listener cuts its clients off and harden
    cannot know their CA, so 2.7/REM-TCP stay failing, and the plan says why and what to do."""
    p = plan_host(tls_host(tls=True, tlscert=CERT, tlskey=KEY), policy())
    assert {"2.7", "REM-TCP"} <= set(p.still_failing)
    [held] = [h for h in p.held_back if h.what == "tlscacert"]
    assert "tcp://0.0.0.0:2376" in held.reason and "2.7" in held.reason and "REM-TCP" in held.reason
    assert "tlscacert" in held.how_to_accept
    assert "hosts" in json.loads(p.change(DAEMON_JSON).after)


class _Harden:
    """What harden_exit_code reads of a host's harden (remediate.harden.HostHarden)."""

    def __init__(self, plan, applied: bool):
        self.plan, self.policy = plan, policy()
        self.apply = type("Applied", (), {"outcome": "changed", "preexisting": None})() if applied else None

    def errors(self):
        return []

    def pending(self):
        return not self.plan.empty and not self.plan.refused


def exit_code(facts, *, dry_run: bool) -> int:
    from remediate import app
    from remediate.runner import OK, HostOutcome

    return app.harden_exit_code(
        [HostOutcome("h", OK, _Harden(plan_host(facts, policy()), not dry_run))], dry_run=dry_run
    )


def test_the_exit_code_says_when_harden_leaves_a_check_it_could_not_fix_safely():
    from remediate import app

    assert exit_code(tls_host(tls=True, tlscert=CERT, tlskey=KEY), dry_run=False) == app.EXIT_FINDINGS
    # userns-remap held back by the policy is the owner's choice, not a leftover: a changed run exits 0
    assert exit_code(tls_host(tls=True, **TLS_FILES), dry_run=False) == app.EXIT_OK
    assert exit_code(load("stock"), dry_run=False) == app.EXIT_OK


def test_a_key_dockerd_ignores_is_named_and_the_exit_code_says_it_stays():
    """`host` (singular) passes dockerd's validation and is ignored: harden keeps the owner's text, names it,
    and no longer reports a plain success."""
    from remediate import app

    facts = with_daemon_json(load("stock"), {"host": "tcp://0.0.0.0:2375"})
    p = plan_host(facts, policy())
    assert "REM-CONFIG" in p.still_failing
    assert any(n.startswith("kept as the owner wrote it") and "host" in n for n in p.notes)
    assert exit_code(facts, dry_run=False) == app.EXIT_FINDINGS


def _vendor_socket_tcp():
    stock = load("stock")
    unit = "/lib/systemd/system/docker.socket"
    text = (
        stock.file(unit)
        .text()
        .replace("ListenStream=/run/docker.sock", "ListenStream=/run/docker.sock\nListenStream=2375")
    )
    return with_file(stock, unit, text.encode())


TCP_PLACES = {
    "vendor unit ExecStart": lambda: with_exec_start(
        load("stock"),
        "ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375 "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    ),
    "--host= form": lambda: with_exec_start(
        load("stock"),
        "ExecStart=/usr/sbin/dockerd -H fd:// --host=tcp://0.0.0.0:2375 "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    ),
    "vendor docker.socket": _vendor_socket_tcp,
    "Environment= drop-in": with_environment_tcp,
    "daemon.json hosts": lambda: load("tcp-daemon-json"),
    "DOCKER_OPTS": lambda: load("tcp-docker-opts"),
    "docker.socket drop-in": lambda: load("tcp-socket-unit"),
    "tls with tlsverify false": lambda: tls_host(tls=True, tlsverify=False, **TLS_FILES),
}


@pytest.mark.parametrize("place", sorted(TCP_PLACES))
def test_harden_closes_an_unverified_tcp_listener_wherever_it_is_set(place):
    """Harden leaves nothing it could fix: wherever the TCP -H or ListenStream comes from, the plan closes it,
    re-audited after the plan REM-TCP passes, and nothing but the policy's hold_back stays failing."""
    facts = TCP_PLACES[place]()
    assert statuses(facts, "REM-TCP")[0] == {"REM-TCP": FAIL}
    p = plan_host(facts, policy())
    assert not p.refused and not [n for n in p.notes if "by hand" in n or "stays" in n], p.notes
    after = apply_plan(facts, p)
    assert statuses(after, "REM-TCP")[0] == {"REM-TCP": PASS}
    assert set(p.still_failing) == {"2.9"}  # userns-remap, held back by the default policy
