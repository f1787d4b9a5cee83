"""`invoke audit` against the live lab: each scenario found exactly, nothing leaked, exit codes."""

from __future__ import annotations

import json

import pytest

from remediate import app
from remediate.checks.model import FAIL
from tests.conftest import ONLY_SCENARIOS
from tests.expected_findings import expected_failures

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)


@pytest.fixture(scope="module")
def lab_audit(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "results.json"
    target = app.Target(hosts="lab", inventory=str(lab.inventory_path), known_hosts=[])
    opts = app.AuditOptions(json_path=out)
    doc, outcomes = app.run_audit(target, opts)
    return doc, outcomes, opts


def test_each_scenario_host_fails_exactly_its_checks(lab, lab_audit):
    _, outcomes, _ = lab_audit
    expected = expected_failures(lab.lab.engine_info().get("containerd", ""))
    if ONLY_SCENARIOS:  # REMEDIATE_TEST_SCENARIOS booted only these: the others are not there to audit
        expected = {host: failures for host, failures in expected.items() if host in ONLY_SCENARIOS}
    assert {o.host for o in outcomes} == set(expected)
    for o in outcomes:
        assert o.ok, o.error
        failed = {r.check.id for r in o.value.results if r.status == FAIL}
        assert failed == expected[o.host], (o.host, sorted(failed ^ expected[o.host]))
        assert o.round_trips <= 2


def test_hardened_host_has_no_failure_and_broken_json_is_diagnosed(lab_audit):
    _, outcomes, _ = lab_audit
    by_host = {o.host: o.value for o in outcomes}
    assert by_host["hardened"].failing("info") == []
    broken = {r.check.id: r for r in by_host["broken-json"].results}
    assert "daemon.json:3:1" in broken["REM-CONFIG"].evidence[0]
    assert broken["REM-RUNNING"].status == FAIL


def test_exit_code_and_output_and_json_hold_no_secret(lab, lab_audit, capsys, tmp_path):
    doc, _outcomes, _opts = lab_audit
    path = tmp_path / "results.json"
    code = app.audit(
        app.Target(hosts="lab", inventory=str(lab.inventory_path), known_hosts=[]), app.AuditOptions(json_path=path)
    )
    captured = capsys.readouterr()
    assert code == app.EXIT_FINDINGS
    saved = path.read_text()
    assert json.loads(saved)["format"] == "remediate.results/1"
    for text in (captured.out, captured.err, saved, json.dumps(doc.to_json())):
        assert lab.container_secret not in text
        assert lab.ops_password not in text
    assert "risky-containers" in captured.out and "REM-SOCK-MOUNT" in captured.out


def test_hardened_alone_exits_zero_and_unreachable_exits_three(lab, tmp_path):
    target = app.Target(hosts="hardened", inventory=str(lab.inventory_path), known_hosts=[])
    assert app.audit(target, app.AuditOptions()) == app.EXIT_OK
    broken = tmp_path / "inventory.yml"
    broken.write_text(
        lab.inventory_path.read_text().replace(f"ansible_port: {lab.hosts['hardened'].port}", "ansible_port: 1")
    )
    target = app.Target(hosts="hardened", inventory=str(broken), known_hosts=[])
    assert app.audit(target, app.AuditOptions()) == app.EXIT_UNREACHABLE
