"""The results document: its JSON Schema, loading, and merging runs or shards into one fleet document."""

from __future__ import annotations

import copy
import datetime as dt
import json

import jsonschema
import pytest

from remediate.apply.engine import ApplyResult
from remediate.errors import RemediateError
from remediate.report import FORMATS, documents, write_reports
from tests import report_fixtures as rf


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(rf.SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def errors(validator, doc) -> list[str]:
    return [f"{e.json_path}: {e.message[:160]}" for e in validator.iter_errors(doc)]


def test_audit_and_harden_documents_follow_the_schema(validator, audit_doc, harden_doc):
    assert errors(validator, audit_doc) == []
    assert errors(validator, harden_doc) == []
    assert {h["host"] for h in harden_doc["hosts"] if h.get("plan")} == set(rf.SCENARIOS)


def test_applied_harden_document_follows_the_schema(validator):
    steps = [
        {"step": "prepare", "ok": True, "detail": "3 file(s) staged", "seconds": 0.41},
        {"step": "restart", "ok": False, "detail": "dockerd did not answer", "seconds": 30.0},
    ]
    outcomes = [
        rf.outcome("stock", "harden", apply=ApplyResult("changed", "r1", "/var/backups/remediate/r1")),
        rf.outcome(
            "loose-perms",
            "harden",
            apply=ApplyResult("rolled-back", "r1", "/var/backups/remediate/r1", "dockerd down", steps),
        ),
        rf.unreachable(),
    ]
    doc = rf.document(outcomes, "harden", options={"dry_run": False, "accept_risk": ["userns-remap"]})
    assert errors(validator, doc) == []


def test_schema_rejects_what_the_contract_excludes(validator, audit_doc, harden_doc):
    """The schema has teeth: each broken document is refused for the right reason."""
    cases = []
    doc = copy.deepcopy(harden_doc)
    del doc["hosts"][0]["plan"]
    cases.append((doc, "'plan' is a required property"))
    doc = copy.deepcopy(harden_doc)
    doc["hosts"][0]["apply"] = ApplyResult("changed", "r", None).to_json()
    cases.append((doc, "is not of type 'null'"))
    doc = copy.deepcopy(audit_doc)
    doc["hosts"][-1]["results"] = []
    cases.append((doc, "'results' is not one of"))
    doc = copy.deepcopy(audit_doc)
    doc["hosts"][0]["results"][0]["status"] = "ok"
    cases.append((doc, "is not one of"))
    doc = copy.deepcopy(audit_doc)
    doc["hosts"][0]["results"][0]["status"] = "waived"
    cases.append((doc, "'waiver' is a required property"))
    doc = copy.deepcopy(audit_doc)
    doc["secret"] = "x"
    cases.append((doc, "Additional properties are not allowed"))
    for doc, expected in cases:
        found = errors(validator, doc)
        assert any(expected in e for e in found), (expected, found)


def test_json_format_writes_the_document_itself(tmp_path, validator, harden_doc):
    [path] = write_reports(harden_doc, tmp_path, "json")
    assert path.name == FORMATS["json"][0]
    saved = json.loads(path.read_text())
    assert saved == harden_doc and errors(validator, saved) == []


def test_load_refuses_what_is_not_a_results_document(tmp_path, audit_doc):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(audit_doc))
    assert documents.load(good) == audit_doc
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "remediate.results/1",\n "kind": }')
    with pytest.raises(RemediateError, match=r"bad\.json:2:10: not JSON"):
        documents.load(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"runs": []}))
    with pytest.raises(RemediateError, match=r"other.json: not a remediate results document"):
        documents.load(other)
    with pytest.raises(RemediateError, match="no such results file"):
        documents.load(tmp_path / "missing.json")


# --- merge -----------------------------------------------------------------------------------------------


def shard_docs(kind: str):
    """One run over every scenario, and the same hosts audited as two inventory shards by two CI jobs."""
    outcomes = [rf.outcome(n, kind) for n in rf.SCENARIOS] + [rf.unreachable()]
    single = rf.document(
        outcomes, kind, run_id="20260115T090000Z-000000", inventory="inventories/fleet.yml", pattern="all"
    )
    first = rf.document(
        outcomes[:4],
        kind,
        run_id="20260115T100000Z-aaaaaa",
        started=rf.T0 + dt.timedelta(hours=1),
        inventory="inventories/shard-a.yml",
        pattern="shard_a",
    )
    rest = rf.document(
        outcomes[4:],
        kind,
        run_id="20260115T100500Z-bbbbbb",
        started=rf.T0 + dt.timedelta(hours=1, minutes=5),
        inventory="inventories/shard-b.yml",
        pattern="shard_b",
    )
    return single, first, rest


def as_run_of(doc: dict, other: dict) -> dict:
    """doc with other's run identity (RUN_IDENTITY and HOST_RUN_FIELDS), to compare rendered reports."""
    stripped = documents.without_run_identity(doc)
    out = {k: other[k] if k in documents.RUN_IDENTITY else stripped[k] for k in other}
    theirs = {h["host"]: h for h in other["hosts"]}
    out["hosts"] = [
        {k: theirs[h["host"]][k] if k in documents.HOST_RUN_FIELDS else h[k] for k in theirs[h["host"]]}
        for h in stripped["hosts"]
    ]
    return out


@pytest.mark.parametrize("kind", ["audit", "harden"])
def test_merged_shards_equal_one_run_over_both(kind, tmp_path, validator):
    """The definition of "equal": identical without RUN_IDENTITY/HOST_RUN_FIELDS, so every report is identical
    once the run's identity is the same."""
    single, first, rest = shard_docs(kind)
    merged = documents.merge([first, rest])
    assert errors(validator, merged) == []
    assert documents.without_run_identity(merged) == documents.without_run_identity(single)
    one = write_reports(single, tmp_path / "single")
    two = write_reports(as_run_of(merged, single), tmp_path / "merged")
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_merge_records_its_runs_and_spans_them(audit_doc):
    _, first, rest = shard_docs("audit")
    merged = documents.merge([rest, first])
    assert [s["run_id"] for s in merged["merged_from"]] == [first["run_id"], rest["run_id"]]
    assert merged["merged_from"][0]["hosts"] == [h["host"] for h in first["hosts"]]
    assert merged["started"] == first["started"] and merged["finished"] == rest["finished"]
    assert merged["inventory"] == "inventories/shard-a.yml,inventories/shard-b.yml"
    assert merged["pattern"] == "shard_a,shard_b"
    assert merged["run_id"].startswith("merged-")
    assert merged["run_id"] == documents.merge([first, rest])["run_id"]
    # Argument order decides host order: rest's hosts come first here.
    assert [h["host"] for h in merged["hosts"]] == [h["host"] for h in rest["hosts"] + first["hosts"]]


def test_later_run_wins_a_duplicate_host_at_its_first_position():
    old = rf.document([rf.outcome("stock"), rf.outcome("hardened")], run_id="20260115T090000Z-old000")
    rerun = rf.document(
        [rf.outcome("hardened", host_vars={"remediate_profile": "strict"})],
        run_id="20260115T120000Z-new000",
        started=rf.T0 + dt.timedelta(hours=3),
    )
    for docs in ([old, rerun], [rerun, old]):  # the run that started last wins, whatever the argument order
        merged = documents.merge(docs)
        hardened = next(h for h in merged["hosts"] if h["host"] == "hardened")
        assert hardened["policy"] == "strict"
        by_run = {s["run_id"]: s for s in merged["merged_from"]}
        assert by_run[old["run_id"]]["superseded"] == ["hardened"]
        assert by_run[old["run_id"]]["hosts"] == ["stock"]
        assert by_run[rerun["run_id"]]["hosts"] == ["hardened"]
    assert [h["host"] for h in documents.merge([old, rerun])["hosts"]] == ["stock", "hardened"]


def test_merging_merged_documents_flattens_their_runs():
    _, first, rest = shard_docs("audit")
    third = rf.document([rf.outcome("stock")], run_id="20260115T110000Z-cccccc", started=rf.T0 + dt.timedelta(hours=2))
    assert documents.merge([documents.merge([first, rest]), third]) == documents.merge([first, rest, third])
    assert documents.merge([first, documents.merge([rest, third])]) == documents.merge([first, rest, third])


def test_merge_keeps_only_options_every_run_agrees_on():
    a = rf.document([rf.outcome("stock")], options={"fail_on": "high", "only": None, "profile": "strict"})
    b = rf.document(
        [rf.outcome("hardened")],
        run_id="20260115T090000Z-bbbbbb",
        options={"fail_on": "critical", "only": None, "profile": "strict"},
    )
    assert documents.merge([a, b])["options"] == {"only": None, "profile": "strict"}


def test_same_document_twice_counts_once(audit_doc):
    merged = documents.merge([audit_doc, copy.deepcopy(audit_doc)])
    assert [h["host"] for h in merged["hosts"]] == [h["host"] for h in audit_doc["hosts"]]
    assert len(merged["merged_from"]) == 1 and merged["merged_from"][0]["superseded"] == []


def test_merge_refuses_mixed_kinds_and_nothing(audit_doc, harden_doc):
    with pytest.raises(RemediateError, match="different kinds"):
        documents.merge([audit_doc, harden_doc])
    with pytest.raises(RemediateError, match="nothing to merge"):
        documents.merge([])
    assert documents.merge([audit_doc]) is audit_doc
