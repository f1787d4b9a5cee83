"""The results document of a run (remediate/results.py): hosts settled as they end keep no facts, and the file
streamed from their entries is byte for byte the file the whole document would have been."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import pytest

from remediate import checks, output, results
from remediate.apply.validation import Validation
from remediate.audit import NOTEWORTHY, audit_host
from remediate.checks import catalogue
from remediate.facts.model import CommandFact, HostFacts
from remediate.harden import HostHarden
from remediate.plan import plan_host
from remediate.policy import policy_for
from remediate.runner import HostOutcome
from tests.report_fixtures import FACTS, SCENARIOS, T0

EVIL = "\x1b]0;pwned\x07 \u202e \ud800 \n"


def harden_outcome(name: str, lock: str = "") -> HostOutcome:
    facts = HostFacts.load(FACTS / f"{name}.json")
    facts.commands["apply_lock"] = CommandFact(0, lock)
    policy = policy_for({}, None)
    value = HostHarden(audit_host(facts, policy, checks.select(), name), plan_host(facts, policy), Validation(True, []))
    return HostOutcome(name, "ok", value, seconds=1.5, round_trips=2)


def document(outcomes) -> results.Document:
    return results.Document("harden", "20260115T090000Z-aaaaaa", T0, "inv.yml", "all", {"dry_run": True}, outcomes)


def test_a_settled_host_keeps_what_the_terminal_reads_and_its_entry_is_the_one_it_had():
    outcome = harden_outcome("stock", lock=f"run 1 by {EVIL}\n")
    settled = results.settle(outcome)
    assert settled.entry.data() == json.loads(json.dumps(results.host_entry(outcome), default=str))
    value = settled.value
    assert value.audit.facts is None and value.audit.effective is None
    assert (value.plan, value.validation, value.audit.counts()) == (
        outcome.value.plan,
        outcome.value.validation,
        outcome.value.audit.counts(),
    )
    assert value.audit.results == [r for r in outcome.value.audit.results if r.status in NOTEWORTHY]
    assert value.lock == outcome.value.lock == f"run 1 by {EVIL}".strip()
    with pytest.raises(ValueError, match="settled"):
        value.to_json()
    gone = results.settle(HostOutcome("gone", "unreachable", error=EVIL))
    assert gone.value is None and gone.entry.data()["error"] == EVIL


@pytest.mark.parametrize("settled", [True, False], ids=["settled", "as-is"])
def test_the_streamed_file_is_the_whole_documents_text(tmp_path, settled):
    outcomes = [harden_outcome(n) for n in SCENARIOS[:4]]
    outcomes.append(HostOutcome("gone", "failed", error=f"banner {EVIL}", seconds=0.25))
    if settled:
        outcomes = [results.settle(o) for o in outcomes]
    doc = document(outcomes)
    doc.write(tmp_path / "streamed.json")
    results.write(doc.to_json(), tmp_path / "whole.json")
    text = (tmp_path / "streamed.json").read_text()
    assert text == (tmp_path / "whole.json").read_text()
    assert text.isascii() and "\x1b" not in text
    assert [h["host"] for h in json.loads(text)["hosts"]] == [*SCENARIOS[:4], "gone"]
    one_a_line = [json.loads(line.removesuffix(","))["host"] for line in text.splitlines() if line.startswith("  {")]
    assert one_a_line == [*SCENARIOS[:4], "gone"]  # grep finds a host's whole entry


def test_a_document_of_no_host_is_written_the_same_way(tmp_path):
    doc = document([])
    doc.write(tmp_path / "streamed.json")
    results.write(doc.to_json(), tmp_path / "whole.json")
    assert (tmp_path / "streamed.json").read_text() == (tmp_path / "whole.json").read_text()
    assert json.loads((tmp_path / "streamed.json").read_text())["hosts"] == []


def test_a_settled_host_crossing_from_a_worker_process_shares_the_catalogues_checks():
    """What crosses back from a worker is a host's own: its checks come back as the catalogue's, not copies."""
    settled = results.settle(harden_outcome("stock"))
    data = pickle.dumps(settled)
    assert catalogue()["2.9"].rationale.encode() not in data
    back = pickle.loads(data)
    assert all(r.check is catalogue()[r.check.id] for r in back.value.audit.results)
    assert back.value.audit.results == settled.value.audit.results and back.entry.text() == settled.entry.text()
    stricter = replace(catalogue()["2.9"], severity="critical")  # a policy's severity override
    assert pickle.loads(pickle.dumps(stricter)) == stricter


@pytest.mark.parametrize("show_passed", [False, True])
def test_the_terminal_shows_a_settled_audit_exactly_as_the_whole_one(capsys, show_passed):
    audits = [
        audit_host(HostFacts.load(FACTS / f"{n}.json"), policy_for({}, None), checks.select(), n) for n in SCENARIOS
    ]
    whole = [HostOutcome(a.host, "ok", a) for a in audits]
    settled = [results.settle(o, keep_passed=show_passed) for o in whole]
    for o, s in zip(whole, settled, strict=True):
        assert (s.value.counts(), s.value.score(), s.value.failing("low"), s.value.errors()) == (
            o.value.counts(),
            o.value.score(),
            o.value.failing("low"),
            o.value.errors(),
        )
        assert len(s.value.results) == (
            len(o.value.results) if show_passed else sum(o.value.counts()[status] for status in NOTEWORTHY)
        )
    shown = []
    for outcomes in (whole, settled):
        output.audit_report(outcomes, fail_on="medium", show_passed=show_passed)
        shown.append(capsys.readouterr().out)
    assert shown[0] == shown[1] and "score" in shown[0]
