"""Issue 12: a registry client key on a real host never leaves it. audit (--json, --report), harden --dry-run
(--json, --report) and facts --save report its owner and mode, and not one byte of it, in any file they
write or on the terminal."""

from __future__ import annotations

import base64
import json
import secrets
import shlex
import subprocess

import pytest

from remediate import app
from remediate.harden import HardenOptions

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

REGISTRY_DIR = "/etc/docker/certs.d/registry.example:5000"
CLIENT_KEY = f"{REGISTRY_DIR}/client.key"
CLIENT_CERT = f"{REGISTRY_DIR}/client.cert"


def on_host(lab, script: str) -> str:
    done = subprocess.run(lab.lab.ssh_argv("stock", [script]), capture_output=True, check=True, timeout=120)
    return done.stdout.decode()


def encodings(data: bytes) -> list[bytes]:
    """data as it could appear: plain, and base64 at each of the three alignments it could start at."""
    forms = [data]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data)
        forms.append(encoded[4 if pad else 0 : -4])  # the characters that depend on data alone
    return forms


@pytest.fixture
def planted_key(lab):
    """A root-only 0600 client key and a 0644 client certificate on `stock`, each with a unique secret;
    removed afterwards (with certs.d when the test created it)."""
    key_secret, cert_secret = (f"KEYMATERIAL-{name}-{secrets.token_hex(16)}" for name in ("key", "cert"))
    existed = on_host(lab, "[ -e /etc/docker/certs.d ] && echo yes || echo no").strip() == "yes"
    on_host(
        lab,
        f"set -e; umask 022; mkdir -p {shlex.quote(REGISTRY_DIR)}; "
        f"printf '%s\\n' '-----BEGIN PRIVATE KEY-----' {key_secret} > {shlex.quote(CLIENT_KEY)}; "
        f"chmod 0600 {shlex.quote(CLIENT_KEY)}; "
        f"printf '%s\\n' '-----BEGIN CERTIFICATE-----' {cert_secret} > {shlex.quote(CLIENT_CERT)}; "
        f"chmod 0644 {shlex.quote(CLIENT_CERT)}",
    )
    try:
        yield key_secret.encode(), cert_secret.encode()
    finally:
        on_host(lab, f"rm -rf {shlex.quote(REGISTRY_DIR)}" + ("" if existed else "; rm -rf /etc/docker/certs.d"))


def test_key_material_is_reported_by_its_metadata_and_never_by_its_bytes(lab, planted_key, tmp_path, capfd):
    key_secret, cert_secret = planted_key
    target = app.Target(hosts="stock", inventory=str(lab.inventory_path), known_hosts=[])
    audit_json, audit_dir = tmp_path / "audit.json", tmp_path / "audit-report"
    app.audit(target, app.AuditOptions(json_path=audit_json, report_dir=audit_dir, show_passed=True))
    dry_json, dry_dir = tmp_path / "dry-run.json", tmp_path / "dry-run-report"
    app.harden(target, HardenOptions(dry_run=True), json_path=dry_json, report_dir=dry_dir)
    assert app.show_facts(target, tmp_path / "facts") == app.EXIT_OK
    terminal = capfd.readouterr()

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {audit_json, dry_json, tmp_path / "facts" / "stock.json"} <= set(written)
    assert any(p.parent == audit_dir for p in written) and any(p.parent == dry_dir for p in written)
    for secret in (key_secret, cert_secret):
        for form in encodings(secret):
            assert form not in (terminal.out + terminal.err).encode(), form
            for path in written:
                assert form not in path.read_bytes(), (path, form)

    # ... while their owner and mode are still there: in the saved facts, the audit and the plan
    files = json.loads((tmp_path / "facts" / "stock.json").read_text())["files"]
    key, cert = files[CLIENT_KEY], files[CLIENT_CERT]
    assert "content" not in key and "content" not in cert
    assert (key["kind"], key["mode"], key["owner"], key["size"]) == ("file", 0o600, "root", len(key_secret) + 29)
    assert cert["mode"] == 0o644 and isinstance(key["dev"], int) and isinstance(key["ino"], int)
    results = {r["id"]: r for r in json.loads(audit_json.read_text())["hosts"][0]["results"]}
    assert results["3.8"]["status"] == "fail"
    assert any(CLIENT_CERT in line and "mode 0644" in line for line in results["3.8"]["evidence"])
    assert any(CLIENT_KEY in line for line in results["3.7"]["evidence"])
    changes = {c["path"]: c for c in json.loads(dry_json.read_text())["hosts"][0]["plan"]["changes"]}
    for path, old_mode in ((CLIENT_KEY, "0600"), (CLIENT_CERT, "0644")):
        change = changes[path]
        assert (change["action"], change["metadata_only"], change["before"], change["after"]) == (
            "chmod/chown",
            True,
            None,
            None,
        )
        assert (change["old_mode"], change["mode"]) == (old_mode, "0400" if old_mode == "0600" else "0444")
    assert changes[CLIENT_KEY]["old_inode"] == f"{key['dev']}:{key['ino']}"
