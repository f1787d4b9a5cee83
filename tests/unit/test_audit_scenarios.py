"""The whole catalogue on facts captured from each lab scenario (fast, no lab needed)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from remediate import checks
from remediate.audit import audit_host
from remediate.checks.model import ERROR, FAIL, WAIVED
from remediate.errors import PolicyError
from remediate.facts.model import HostFacts
from remediate.policy import policy_for
from tests.expected_findings import EXPECTED_FAILURES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts"


def audit_fixture(name: str, host_vars: dict | None = None, today: dt.date | None = None):
    facts = HostFacts.load(FIXTURES / f"{name}.json")
    return audit_host(facts, policy_for(host_vars or {}), checks.select(), name, ("lab",), today)


@pytest.mark.parametrize("scenario", sorted(EXPECTED_FAILURES))
def test_each_scenario_fails_exactly_its_checks(scenario):
    audit = audit_fixture(scenario)
    failed = {r.check.id for r in audit.results if r.status == FAIL}
    assert failed == EXPECTED_FAILURES[scenario]
    assert not [r for r in audit.results if r.status == ERROR]


def test_every_result_has_evidence():
    for scenario in EXPECTED_FAILURES:
        for result in audit_fixture(scenario).results:
            assert result.evidence, (scenario, result.check.id)


def test_broken_json_is_diagnosed_with_line_and_column_and_the_journal():
    audit = audit_fixture("broken-json")
    by_id = {r.check.id: r for r in audit.results}
    assert "/etc/docker/daemon.json:3:1" in by_id["REM-CONFIG"].evidence[0]
    assert "trailing comma" in by_id["REM-CONFIG"].evidence[0]
    assert any("journal:" in e and "daemon.json" in e for e in by_id["REM-RUNNING"].evidence)


def test_tcp_exposure_names_its_source():
    evidence = {
        s: {r.check.id: r for r in audit_fixture(s).results}["REM-TCP"].evidence[0]
        for s in ("tcp-daemon-json", "tcp-docker-opts", "tcp-socket-unit")
    }
    assert "/etc/docker/daemon.json:4" in evidence["tcp-daemon-json"]
    assert "/etc/default/docker:14" in evidence["tcp-docker-opts"] and "DOCKER_OPTS" in evidence["tcp-docker-opts"]
    assert "docker.socket.d/tcp.conf" in evidence["tcp-socket-unit"]


def test_waiver_waives_and_expired_waiver_fails_loudly():
    waiver = {"check": "2.9", "hosts": "stock", "reason": "legacy images need host uid", "expires": "2030-01-01"}
    audit = audit_fixture("stock", {"remediate_waivers": [waiver]})
    result = next(r for r in audit.results if r.check.id == "2.9")
    assert result.status == WAIVED and result.waiver["reason"] == "legacy images need host uid"
    audit = audit_fixture("stock", {"remediate_waivers": [waiver]}, today=dt.date(2030, 1, 2))
    result = next(r for r in audit.results if r.check.id == "2.9")
    assert result.status == ERROR and "EXPIRED" in result.evidence[-1]


def test_waiver_for_another_host_does_not_apply():
    waiver = {"check": "2.*", "hosts": "db*", "reason": "r", "expires": "2030-01-01"}
    audit = audit_fixture("stock", {"remediate_waivers": [waiver]})
    assert not [r for r in audit.results if r.status == WAIVED]


@pytest.mark.parametrize(
    "host_vars, message",
    [
        (
            {"remediate_waivers": [{"check": "2.99", "reason": "r", "expires": "2030-01-01"}]},
            "inventory (remediate_waivers): the waiver for check '2.99' matches no check",
        ),
        ({"remediate_waivers": [{"check": "9.*", "reason": "r", "expires": "2030-01-01"}]}, "'9.*' matches no check"),
        ({"remediate_policy": {"skip": ["2.9", "REM-TPC"]}}, "skip: no check REM-TPC"),
        ({"remediate_policy": {"advisory": ["5.99"]}}, "advisory: no check 5.99"),
        ({"remediate_policy": {"severity": {"2.99": "low"}}}, "severity: no check 2.99"),
    ],
)
def test_a_check_id_the_catalogue_does_not_know_is_a_policy_error(host_vars, message):
    """A typo would otherwise waive, skip or soften nothing, silently."""
    with pytest.raises(PolicyError, match=re.escape(message)):
        policy_for(host_vars, None)


def test_waiver_globs_and_known_ids_are_accepted():
    waivers = [{"check": c, "reason": "r", "expires": "2030-01-01"} for c in ("1.1.*", "REM-TCP", "5.3?")]
    assert len(policy_for({"remediate_waivers": waivers}, None).waivers) == 3


def test_advisory_failures_are_warnings_and_strict_profile_fails_them():
    default = {r.check.id: r.status for r in audit_fixture("hardened").results}
    strict = {r.check.id: r.status for r in audit_fixture("hardened", {"remediate_profile": "strict"}).results}
    assert default["2.12"] == "warn" and strict["2.12"] == FAIL


def test_only_and_skip_select_checks():
    assert {c.id for c in checks.select(only="2.2,REM-TCP")} == {"2.2", "REM-TCP"}
    assert all(c.concern == "containers" for c in checks.select(only="containers"))
    assert not any(c.id.startswith("1.1.") for c in checks.select(skip="1.1.*"))
    with pytest.raises(Exception, match="no check matches"):
        checks.select(only="9.9")


def test_saved_results_hold_no_container_secret():
    import json

    audit = audit_fixture("risky-containers")
    text = json.dumps(audit.to_json(), default=str)
    assert "LAB_API_TOKEN" not in text and "lab-secret" not in text
