"""Issue 14 item 1 on a live host: dockerd with `tls: true`, a CA and no tlsverify key verifies clients,
and the audit says so (tcp-mutual-tls scenario; its certificates are made at boot, remediate.lab.tls)."""

from __future__ import annotations

import subprocess

import pytest

from remediate import app
from remediate.checks.model import PASS

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

HOST = "tcp-mutual-tls"
CLIENT = "--tlscacert /root/lab-tls/ca.pem --tlscert /root/lab-tls/cert.pem --tlskey /root/lab-tls/key.pem"
WITH_CERT = f"docker --tlsverify {CLIENT} -H tcp://127.0.0.1:2376 version --format '{{{{.Server.Version}}}}'"
# The server is verified (CA given) but no client certificate is offered.
WITHOUT_CERT = "docker --tlsverify --tlscacert /root/lab-tls/ca.pem -H tcp://127.0.0.1:2376 version"


def on_host(lab, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(lab.lab.ssh_argv(HOST, [script]), capture_output=True, text=True, timeout=120, check=False)


def test_dockerd_demands_a_client_certificate_without_a_tlsverify_key(lab):
    assert '"tlsverify"' not in on_host(lab, "cat /etc/docker/daemon.json").stdout
    assert on_host(lab, "ss -Hltn 'sport = :2376'").stdout.strip()
    assert on_host(lab, WITH_CERT).stdout.strip()
    refused = on_host(lab, WITHOUT_CERT)
    assert refused.returncode != 0 and "certificate" in refused.stderr.lower(), refused.stderr


def test_audit_passes_the_listener_and_its_files(lab, tmp_path):
    target = app.Target(hosts=HOST, inventory=str(lab.inventory_path), known_hosts=[])
    _, outcomes = app.run_audit(target, app.AuditOptions(json_path=tmp_path / "audit.json", show_passed=True))
    [outcome] = outcomes
    results = {r.check.id: r for r in outcome.value.results}
    checks = ("2.7", "REM-TCP", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
    assert {c: results[c].status for c in checks} == dict.fromkeys(checks, PASS), {
        c: results[c].evidence for c in checks
    }
    assert "tcp://0.0.0.0:2376" in results["2.7"].evidence[0] and "TLS tlsverify" in results["2.7"].evidence[0]
    assert "/etc/docker/tls/server-key.pem: mode 0400" in " ".join(results["3.14"].evidence)


EXTRA_SOCK = "/run/docker-extra.sock"
RESTART = "systemctl reset-failed docker && systemctl restart docker"  # earlier tests may have spent the start limit


def test_a_unix_socket_given_by_a_flag_is_judged_by_3_15_and_3_16(lab, tmp_path):
    """Issue 14 item 10 on a live host: `-H unix:///run/docker-extra.sock` in DOCKER_OPTS opens a second API
    socket; it is gathered and judged beside docker.socket's, then the host is put back."""

    def stock(script: str) -> str:
        done = subprocess.run(
            lab.lab.ssh_argv("stock", [script]), capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    stock(
        "cp -p /etc/default/docker /etc/default/docker.htls && "
        f"echo 'DOCKER_OPTS=\"-H unix://{EXTRA_SOCK}\"' >> /etc/default/docker && " + RESTART
    )
    try:
        assert stock(f"stat -c %F {EXTRA_SOCK}").strip() == "socket"
        target = app.Target(hosts="stock", inventory=str(lab.inventory_path), known_hosts=[])
        _, [outcome] = app.run_audit(target, app.AuditOptions(json_path=tmp_path / "audit.json", show_passed=True))
        results = {r.check.id: r for r in outcome.value.results}
        for check in ("3.15", "3.16"):
            assert any(e.startswith(f"{EXTRA_SOCK}:") for e in results[check].evidence), results[check].evidence
            assert any(e.startswith("/run/docker.sock:") for e in results[check].evidence), results[check].evidence
    finally:
        stock(f"mv /etc/default/docker.htls /etc/default/docker && {RESTART} && rm -f {EXTRA_SOCK}")
