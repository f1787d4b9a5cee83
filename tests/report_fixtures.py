"""Results documents for the report tests, built the way audit and harden build them.

Host entries come from captured lab facts (tests/fixtures/facts) run through the
real audit_host and plan_host under the default policy, and the document comes
from results.Document, so the reports are tested on the shapes the tasks write.
A harden entry is the audit entry plus the plan, a validation and an apply
outcome (None in a dry run), as remediate.harden.HostHarden.to_json writes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediate import checks, results
from remediate.apply.engine import ApplyResult
from remediate.apply.validation import Validation
from remediate.audit import HostAudit, audit_host
from remediate.facts.model import HostFacts
from remediate.plan import plan_host
from remediate.plan.model import Plan
from remediate.policy import policy_for
from remediate.runner import HostOutcome

ROOT = Path(__file__).resolve().parent.parent
FACTS = Path(__file__).parent / "fixtures" / "facts"
SCENARIOS = sorted(p.stem for p in FACTS.glob("*.json"))
SCHEMA = ROOT / "docs" / "results.schema.json"
SARIF_SCHEMA = Path(__file__).parent / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"
# Screenshots and rendered reports a person (or CI) can open after the tests; reports/ is git-ignored.
ARTIFACTS = Path(os.environ.get("REMEDIATE_ARTIFACTS") or ROOT / "reports" / "artifacts")
TODAY = dt.date(2026, 1, 15)
T0 = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)
WAIVER = {"check": "2.9", "hosts": "stock", "reason": "CHG-1234: images need host uids", "expires": "2027-03-31"}


@dataclass
class _Entry:
    """What run_fleet hands results.Document for a reached host: anything with to_json()."""

    data: dict

    def to_json(self) -> dict:
        return self.data


def audit(name: str, host_vars: dict | None = None) -> tuple[HostAudit, HostFacts]:
    facts = HostFacts.load(FACTS / f"{name}.json")
    policy = policy_for(host_vars or {}, None)
    return audit_host(facts, policy, checks.select(), name, ("lab",), TODAY), facts


def validation_of(plan: Plan) -> Validation:
    ok = plan.refused is None
    return Validation(
        ok, [{"name": "model", "ok": ok, "detail": plan.refused or "dockerd would accept the planned configuration"}]
    )


def harden_entry(name: str, host_vars: dict | None = None, apply: ApplyResult | None = None) -> dict:
    host_audit, facts = audit(name, host_vars)
    plan = plan_host(facts, host_audit.policy, groups=("lab",), today=TODAY)
    return {
        **host_audit.to_json(),
        "plan": plan.to_json(),
        "validation": validation_of(plan).to_json(),
        "apply": apply.to_json() if apply else None,
    }


def outcome(
    name: str,
    kind: str = "audit",
    host_vars: dict | None = None,
    seconds: float = 1.25,
    apply: ApplyResult | None = None,
) -> HostOutcome:
    data = harden_entry(name, host_vars, apply) if kind == "harden" else audit(name, host_vars)[0].to_json()
    return HostOutcome(name, "ok", _Entry(data), seconds=seconds, round_trips=2)


def unreachable(name: str = "gone-01") -> HostOutcome:
    return HostOutcome(name, "unreachable", error="ssh: connect to 127.0.0.1:1: connection refused", seconds=0.5)


def document(
    outcomes: list[HostOutcome],
    kind: str = "audit",
    run_id: str = "20260115T090000Z-aaaaaa",
    started: dt.datetime = T0,
    options: dict | None = None,
    inventory: str = "inventories/fleet.yml",
    pattern: str = "all",
) -> dict:
    if options is None:
        options = {"only": None, "skip": None, "fail_on": "high", "profile": None}
        if kind == "harden":
            options |= {"dry_run": True, "accept_risk": []}
    finished = started + dt.timedelta(minutes=1)
    doc = results.Document(kind, run_id, started, inventory, pattern, options, outcomes, finished).to_json()
    # What a saved document looks like when it is read back (tuples become lists, and so on).
    return json.loads(json.dumps(doc, default=str))


def fleet(kind: str = "audit", names: list[str] | None = None, **kwargs) -> dict:
    """Every scenario (the stock host with a waiver), plus one unreachable host."""
    outcomes = [
        outcome(n, kind, {"remediate_waivers": [WAIVER]} if n == "stock" else None) for n in (names or SCENARIOS)
    ]
    return document([*outcomes, unreachable()], kind, **kwargs)


@pytest.fixture(scope="module")
def audit_doc() -> dict:
    """fleet("audit") for a test module (import it there); tests copy it before changing it."""
    return fleet("audit")


@pytest.fixture(scope="module")
def harden_doc() -> dict:
    """fleet("harden"): every reached host has a dry-run plan and its validation."""
    return fleet("harden")
