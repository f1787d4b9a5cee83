"""Issue 14's judgements on live hosts: the engine version against its line, the data-directory audit watches
left out on purpose (audit and harden's dry-run plan), retired content trust, and the live docker info's
runtimes and seccomp options as the sandbox and seccomp checks read them. Read-only: a dry run changes nothing."""

from __future__ import annotations

import json
import subprocess

import pytest

from remediate import app
from remediate.checks.model import INFO, PASS, WARN
from remediate.harden import HardenOptions
from remediate.plan.auditd_rules import RULES_PATH

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)


@pytest.fixture(scope="module")
def results(lab):
    target = app.Target(hosts="stock,hardened", inventory=str(lab.inventory_path), known_hosts=[])
    _, outcomes = app.run_audit(target, app.AuditOptions(show_passed=True))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return {o.host: {r.check.id: r for r in o.value.results} for o in outcomes}


def test_engine_line_is_judged_with_its_end_of_life(results):
    """Every lab engine (20.10, 26.1, 28.5) is on a line past its end of life by 2026-12: a warning that says so."""
    result = results["stock"]["1.2.2"]
    text = "\n".join(result.evidence)
    assert result.status == WARN and "end of life since" in text and "release table checked 2026-12-01" in text


def test_data_directories_warn_with_the_policy_reason_and_hardened_passes(results):
    for check_id in ("1.1.4", "1.1.5"):
        stock = results["stock"][check_id]
        assert stock.status == WARN and "auditd_data_dirs" in "\n".join(stock.evidence)
        assert results["hardened"][check_id].status == PASS  # its rules watch them: CIS compliant either way


def test_retired_content_trust_and_live_runtimes(results):
    for host in ("stock", "hardened"):
        checks = results[host]
        assert checks["REM-CONTENT-TRUST"].status == PASS
        assert checks["4.5"].status == INFO
        sandbox = "\n".join(checks["REM-SANDBOX-RUNTIME"].evidence)
        assert "runc (runc)" in sandbox and "no runtime runs gVisor" in sandbox  # {name: {path: ...}} as read
        assert checks["REM-SECCOMP"].status == PASS
        assert checks["REM-IP-FORWARD"].status == PASS


def test_dry_run_leaves_the_data_directories_unwatched_and_says_why(lab, tmp_path):
    out = tmp_path / "harden.json"
    target = app.Target(hosts="stock", inventory=str(lab.inventory_path), known_hosts=[])
    app.harden(target, HardenOptions(dry_run=True), json_path=out)
    plan = json.loads(out.read_text())["hosts"][0]["plan"]
    rules = next(c for c in plan["changes"] if c["path"] == RULES_PATH)["after"].splitlines()
    assert "-w /etc/docker -k docker" in rules
    assert not [r for r in rules if r.startswith(("-w /var/lib/docker ", "-w /run/containerd "))]
    assert any("auditd_data_dirs" in n and "recursive" in n for n in plan["notes"])
    kinds = {i["kind"]: i["message"] for i in plan["impacts"]}
    assert "every IPv6 address of the host" in kinds["userland-proxy"] and "next start" in kinds["default-ulimits"]


def test_harden_applies_no_data_directory_watch_and_the_checks_stay_warnings(harden_lab, tmp_path):
    """Real apply on stock (default policy), then rollback: the rules file harden writes has the CIS paths but no
    recursive watch on /var/lib/docker or /run/containerd, and a re-audit warns (never passes) 1.1.4 and 1.1.5."""
    target = app.Target(hosts="stock", inventory=str(harden_lab.inventory_path), known_hosts=[])
    out = tmp_path / "harden.json"
    app.harden(target, HardenOptions(yes=True), json_path=out)
    try:
        assert json.loads(out.read_text())["hosts"][0]["apply"]["outcome"] == "changed"
        argv = harden_lab.lab.ssh_argv("stock", [f"cat {RULES_PATH}"])
        rules = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
        assert "-w /etc/docker -k docker" in rules
        assert not [r for r in rules if r.startswith(("-w /var/lib/docker ", "-w /run/containerd "))]
        _, outcomes = app.run_audit(target, app.AuditOptions(show_passed=True))
        after = {r.check.id: r for r in outcomes[0].value.results}
        assert after["1.1.6"].status == PASS
        assert after["1.1.4"].status == after["1.1.5"].status == WARN
    finally:
        assert app.rollback(target, None) == app.EXIT_OK
