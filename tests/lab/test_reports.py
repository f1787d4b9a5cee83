"""Every report format from real runs against the lab: `audit --report`, `harden --dry-run --report`, and shards
of the fleet audited separately and merged back into one fleet report.

The HTML screenshot is kept as reports/artifacts/report-lab.png (REMEDIATE_ARTIFACTS overrides the directory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import junitparser
import pytest

from remediate import app
from remediate.harden import HardenOptions
from remediate.inventory.shard import shard_of
from remediate.report import documents, write_reports
from tests import chromium
from tests import report_fixtures as rf
from tests.expected_findings import expected_failures
from tests.report_page import Matrix


def target(lab, hosts: str = "lab") -> app.Target:
    return app.Target(hosts=hosts, inventory=str(lab.inventory_path), known_hosts=[])


def schema_errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        json.loads(rf.SCHEMA.read_text()), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{e.json_path}: {e.message[:160]}" for e in validator.iter_errors(doc)]


def failing(doc: dict) -> dict[str, set[str]]:
    return {h["host"]: {r["id"] for r in h.get("results", []) if r["status"] == "fail"} for h in doc["hosts"]}


@pytest.fixture(scope="module")
def expected(lab) -> dict[str, set[str]]:
    """What each scenario fails on this lab's engine."""
    return expected_failures(lab.lab.engine_info().get("containerd", ""))


@pytest.fixture(scope="module")
def audit_reports(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit-report")
    code = app.audit(target(lab), app.AuditOptions(report_dir=out))
    return code, out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def dry_run_reports(lab, tmp_path_factory):
    out = tmp_path_factory.mktemp("dry-run-report")
    code = app.harden(target(lab), HardenOptions(dry_run=True), report_dir=out)
    return code, out, json.loads((out / "results.json").read_text())


def test_audit_report_every_format_matches_the_lab(expected, lab, audit_reports):
    code, out, doc = audit_reports
    assert code == app.EXIT_FINDINGS
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "results.json", "junit.xml", "results.sarif"}
    assert schema_errors(doc) == []
    assert failing(doc) == expected

    xml = junitparser.JUnitXml.fromfile(str(out / "junit.xml"))
    suites = {s.name: s for s in xml}
    assert set(suites) == set(expected)
    for host, wanted in expected.items():
        failed = {
            case.name.split()[0]
            for case in suites[host]
            if any(isinstance(r, junitparser.Failure) for r in case.result)
        }
        assert failed == wanted and suites[host].failures == len(wanted), host

    log = json.loads((out / "results.sarif").read_text())
    validator = jsonschema.Draft4Validator(json.loads(rf.SARIF_SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(log)] == []
    found: dict[str, set[str]] = {h: set() for h in expected}
    for result in log["runs"][0]["results"]:
        if result["properties"]["status"] == "fail":
            found[result["properties"]["host"]].add(result["ruleId"])
    assert found == expected

    markdown = (out / "report.md").read_text()
    assert all(f"\n## {host}\n" in markdown for host in expected)
    for path in out.iterdir():
        text = path.read_text()
        assert lab.container_secret not in text and lab.ops_password not in text, path.name


def test_audit_html_in_chromium(expected, audit_reports, tmp_path):
    _, out, doc = audit_reports
    loaded = chromium.load((out / "report.html").as_uri(), tmp_path / "profile")
    assert loaded.console == []
    matrix = Matrix(loaded.dom)
    assert matrix.ready and [r.host for r in matrix.rows] == [h["host"] for h in doc["hosts"]]
    assert matrix.cells_with("fail") == expected


def test_dry_run_report_shows_every_pending_change(lab, dry_run_reports, tmp_path):
    _, out, doc = dry_run_reports  # its exit code is harden's business (tests/lab/test_harden.py)
    assert doc["kind"] == "harden" and doc["options"]["dry_run"] is True
    assert schema_errors(doc) == []
    markdown = (out / "report.md").read_text()
    changes = 0
    for host in doc["hosts"]:
        section = markdown.split(f"\n## {host['host']}\n", 1)[1].split("\n## ", 1)[0]
        for change in host["plan"]["changes"]:
            assert f"```diff\n{change['diff'].strip()}\n```" in section, (host["host"], change["path"])
            changes += 1
    assert changes > len(doc["hosts"])
    refused = {h["host"] for h in doc["hosts"] if h["plan"]["refused"]}
    assert refused == {"broken-json"}
    junit = ET.parse(out / "junit.xml").getroot()
    assert junit.find("testsuite[@name='broken-json']/testcase[@name='harden']/failure") is not None

    loaded = chromium.load((out / "report.html").as_uri(), tmp_path / "profile")
    assert loaded.console == []
    matrix = Matrix(loaded.dom)
    pending = {h["host"]: str(len(h["plan"]["changes"]) + len(h["plan"]["actions"])) for h in doc["hosts"]}
    assert {r.host: r.attrs["data-pending"] for r in matrix.rows} == pending
    for host in doc["hosts"]:
        for change in host["plan"]["changes"]:
            assert f'data-path="{change["path"]}"' in loaded.dom
    rf.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = chromium.screenshot((out / "report.html").as_uri(), rf.ARTIFACTS / "report-lab.png", tmp_path / "profile")
    assert shot.stat().st_size > 20_000


def test_shards_merged_equal_one_run_over_the_fleet(lab, audit_reports, tmp_path):
    """Two CI jobs audit half the fleet each; merged, they are the document of one run over all of it."""
    _, _, whole = audit_reports
    names = [h["host"] for h in whole["hosts"]]
    shards = []
    for part in (names[:4], names[4:]):
        doc, _ = app.run_audit(target(lab, ",".join(part)), app.AuditOptions())
        shards.append(json.loads(json.dumps(doc.to_json())))
    merged = documents.merge(shards)
    assert schema_errors(merged) == []
    assert documents.without_run_identity(merged) == documents.without_run_identity(whole)
    assert [s["hosts"] for s in merged["merged_from"]] == [names[:4], names[4:]]
    written = write_reports(merged, tmp_path / "merged")
    assert len(written) == 5


ROOT = Path(__file__).resolve().parents[2]


def by_host(doc: dict) -> dict:
    """The document without its run identity, hosts keyed by name: a merge lists them shard by shard."""
    out = documents.without_run_identity(doc)
    out["hosts"] = {h["host"]: h for h in out["hosts"]}
    return out


@pytest.mark.parametrize("count", [1, 3, 7])
def test_real_shard_runs_merged_equal_one_run_over_the_fleet(lab, audit_reports, tmp_path, count):
    """`invoke audit --shard K/N` for every K, as N CI jobs would run it: the shards hold every host once, by the
    hash of its name, and their merged documents are the document of one run over the fleet. The 3 shards run
    with --processes 2: results that crossed from worker processes are the same too."""
    _, _, whole = audit_reports
    names = [h["host"] for h in whole["hosts"]]
    paths = []
    for k in range(1, count + 1):
        paths.append(tmp_path / f"shard-{k}.json")
        argv = [sys.executable, "-m", "invoke", "audit", "--hosts", "lab", "--inventory", str(lab.inventory_path)]
        argv += ["--shard", f"{k}/{count}", "--json", str(paths[-1]), "--processes", "2" if count == 3 else "1"]
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        assert run.returncode in (app.EXIT_OK, app.EXIT_FINDINGS), run.stdout[-2000:] + run.stderr[-2000:]
    shards = [documents.load(path) for path in paths]
    assert [[h["host"] for h in doc["hosts"]] for doc in shards] == [
        [n for n in names if shard_of(n, count) == k] for k in range(1, count + 1)
    ]
    merged = documents.merge(shards)
    assert schema_errors(merged) == []
    assert by_host(merged) == by_host(whole)
    assert sorted(h["host"] for h in merged["hosts"]) == sorted(names)


def test_a_dry_run_in_shards_over_worker_processes_merges_to_the_one_run_over_the_fleet(lab, dry_run_reports, tmp_path):
    """`invoke harden --dry-run --shard K/2 --processes 2`: each host is settled in its worker as it ends (its
    document entry serialized there, its facts dropped), and the merged shards are the one dry run over threads."""
    _, _, whole = dry_run_reports
    paths = [tmp_path / f"dry-run-{k}.json" for k in (1, 2)]
    for k, path in enumerate(paths, 1):
        argv = [sys.executable, "-m", "invoke", "harden", "--dry-run", "--hosts", "lab"]
        argv += ["--inventory", str(lab.inventory_path), "--shard", f"{k}/2", "--processes", "2", "--json", str(path)]
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        # a shard holding broken-json (its plan refused) exits 1: the documents below say whether that is all
        assert run.returncode in (app.EXIT_OK, app.EXIT_ERROR, app.EXIT_FINDINGS), run.stderr[-2000:]
    merged = documents.merge([documents.load(path) for path in paths])
    assert schema_errors(merged) == []
    assert by_host(merged) == by_host(whole)
