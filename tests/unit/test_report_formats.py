"""Each report format on documents built from captured facts: counts, locations, diffs, validity."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlparse

import jsonschema
import junitparser
import pytest

from remediate.apply.engine import ApplyResult
from remediate.errors import RemediateError
from remediate.report import html, junit, markdown, parse_formats, paths_from, sarif, write_reports
from tests import report_fixtures as rf
from tests.report_fixtures import SCENARIOS

FAILED, ERRORED, SKIPPED = {"fail"}, {"error"}, {"waived", "not-applicable"}


def reached(doc):
    return [h for h in doc["hosts"] if h["status"] == "ok"]


def statuses(host) -> Counter:
    return Counter(r["status"] for r in host["results"])


# --- JUnit XML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["audit", "harden"])
def test_junit_one_suite_per_host_one_case_per_check(kind, audit_doc, harden_doc):
    doc = audit_doc if kind == "audit" else harden_doc
    root = ET.fromstring(junit.render(doc))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == [h["host"] for h in doc["hosts"]]
    extra = 1 if kind == "harden" else 0
    for host in reached(doc):
        suite, counts = suites[host["host"]], statuses(host)
        cases = suite.findall("testcase")
        assert len(cases) == len(host["results"]) + extra
        assert [c.get("name").split()[0] for c in cases[: len(host["results"])]] == [r["id"] for r in host["results"]]
        failed_cases = {c.get("name").split()[0] for c in cases if c.find("failure") is not None}
        assert failed_cases - {"harden"} == {r["id"] for r in host["results"] if r["status"] == "fail"}
        harden_failed = int(kind == "harden" and bool(host["plan"]["refused"]))
        assert int(suite.get("failures")) == counts["fail"] + harden_failed
        assert int(suite.get("errors")) == counts["error"]
        assert int(suite.get("skipped")) == counts["waived"] + counts["not-applicable"]
        assert int(suite.get("tests")) == len(cases)
    gone = suites["gone-01"]
    assert (gone.get("tests"), gone.get("errors")) == ("1", "1")
    assert "connection refused" in gone.find("testcase/error").get("message")
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites.values())


def test_junit_parses_with_junitparser_and_shows_waivers(tmp_path, audit_doc):
    [path] = write_reports(audit_doc, tmp_path, ["junit"])
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    stock = next(h for h in audit_doc["hosts"] if h["host"] == "stock")
    counts = statuses(stock)
    suite = suites["stock"]
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (
        len(stock["results"]),
        counts["fail"],
        counts["error"],
        counts["waived"] + counts["not-applicable"],
    )
    results = {case.name.split()[0]: case.result for case in suite}
    assert isinstance(results["2.2"][0], junitparser.Failure) and results["2.2"][0].type == "medium"
    waived = results["2.9"][0]
    assert isinstance(waived, junitparser.Skipped) and "CHG-1234" in waived.message and "2027-03-31" in waived.message
    totals = [sum(getattr(s, key) for s in xml) for key in ("tests", "failures", "errors", "skipped")]
    assert totals == [xml.tests, xml.failures, xml.errors, xml.skipped]


def test_junit_harden_case_follows_plan_validation_and_apply():
    outcomes = [
        rf.outcome("broken-json", "harden"),
        rf.outcome("stock", "harden", apply=ApplyResult("rolled-back", "r1", "/b", "dockerd did not return")),
        rf.outcome("loose-perms", "harden", apply=ApplyResult("held-back", "r1")),
        rf.outcome("tcp-docker-opts", "harden", apply=ApplyResult("changed", "r1", "/b")),
    ]
    root = ET.fromstring(junit.render(rf.document(outcomes, "harden", options={"dry_run": False, "accept_risk": []})))
    case = {s.get("name"): s.find("testcase[@name='harden']") for s in root.findall("testsuite")}
    assert "daemon.json" in case["broken-json"].find("failure").get("message")
    assert case["stock"].find("error").get("type") == "rolled-back"
    assert case["loose-perms"].find("skipped") is not None
    changed = case["tcp-docker-opts"]
    assert [c.tag for c in changed] == ["system-out"] and "apply: changed" in changed.find("system-out").text


# --- SARIF -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads(rf.SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize("kind", ["audit", "harden"])
def test_sarif_is_valid_and_has_one_result_per_finding(kind, sarif_validator, audit_doc, harden_doc):
    doc = audit_doc if kind == "audit" else harden_doc
    log = json.loads(sarif.render(doc))
    assert [f"{e.json_path}: {e.message}" for e in sarif_validator.iter_errors(log)] == []
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    expected = [
        (h["host"], r["id"])
        for h in reached(doc)
        for r in h["results"]
        if r["status"] in ("fail", "error", "warn", "waived")
    ]
    assert [(r["properties"]["host"], r["ruleId"]) for r in run["results"]] == expected
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert len({r["partialFingerprints"]["primaryLocationLineHash"] for r in run["results"]}) == len(expected)
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "gone-01" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]


def test_sarif_has_what_github_code_scanning_requires(audit_doc):
    """docs.github.com "SARIF support for code scanning": the properties it marks required, non-empty."""
    log = json.loads(sarif.render(audit_doc))
    assert log["$schema"] and log["version"] == "2.1.0"
    [run] = log["runs"]
    assert run["tool"]["driver"]["name"] == "remediate"
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["id"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and len(rule["fullDescription"]["text"]) <= 1024 and len(rule["name"]) <= 255
        assert float(rule["properties"].get("security-severity", "5")) > 0
    for result in run["results"]:
        assert result["message"]["text"].startswith(result["properties"]["host"] + ": ")
        [location] = result["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        parsed = urlparse(uri)
        assert parsed.scheme == "file" and parsed.path.startswith("/") and not parsed.netloc, uri
        region = location["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1 and region["endColumn"] > region["startColumn"]
        assert re.fullmatch(r"[0-9a-f]{16}:1", result["partialFingerprints"]["primaryLocationLineHash"])


def test_sarif_locates_findings_in_the_host_files(audit_doc):
    log = json.loads(sarif.render(audit_doc))
    where = {
        (r["properties"]["host"], r["ruleId"]): (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in log["runs"][0]["results"]
    }
    assert where[("tcp-docker-opts", "REM-TCP")] == ("file:///etc/default/docker", 14)
    assert where[("tcp-daemon-json", "REM-TCP")] == ("file:///etc/docker/daemon.json", 4)
    assert where[("tcp-socket-unit", "REM-TCP")] == ("file:///etc/systemd/system/docker.socket.d/tcp.conf", 1)
    assert where[("broken-json", "REM-CONFIG")] == ("file:///etc/docker/daemon.json", 3)
    assert where[("loose-perms", "3.6")] == ("file:///etc/docker", 1)
    assert where[("stock", "1.1.3")] == ("file:///etc/audit/rules.d/docker.rules", 1)
    assert where[("risky-containers", "5.4")] == ("file:///var/lib/docker/containers", 1)
    assert where[("stock", "2.2")] == ("file:///etc/docker/daemon.json", 1)
    # The same finding in the same file on two hosts is two alerts.
    fingerprints = {
        r["properties"]["host"]: r["partialFingerprints"]["primaryLocationLineHash"]
        for r in log["runs"][0]["results"]
        if r["ruleId"] == "2.2"
    }
    assert len(set(fingerprints.values())) == len(fingerprints) > 1


def test_sarif_waived_result_is_suppressed_with_its_reason(audit_doc):
    log = json.loads(sarif.render(audit_doc))
    [waived] = [r for r in log["runs"][0]["results"] if r["properties"]["status"] == "waived"]
    assert (waived["properties"]["host"], waived["ruleId"]) == ("stock", "2.9")
    [suppression] = waived["suppressions"]
    assert suppression["kind"] == "external" and "CHG-1234" in suppression["justification"]
    assert "2027-03-31" in suppression["justification"]


# --- Markdown --------------------------------------------------------------------------------------------


def diff_blocks(text: str) -> list[str]:
    return [m[2] for m in re.finditer(r"^(`{3,})diff\n(.*?)^\1$", text, re.MULTILINE | re.DOTALL)]


def test_markdown_contains_each_hosts_diffs(harden_doc):
    text = markdown.render(harden_doc)
    blocks = diff_blocks(text)
    changes = [c for h in reached(harden_doc) for c in h["plan"]["changes"]]
    assert changes and len(blocks) == len(changes)
    for change, block in zip(changes, blocks, strict=True):
        assert block.strip() == change["diff"].strip()
    for host in harden_doc["hosts"]:
        section = text.split(f"\n## {host['host']}\n", 1)[1].split("\n## ", 1)[0]
        for change in (host.get("plan") or {}).get("changes", []):
            assert change["diff"].strip() in section, (host["host"], change["path"])
    assert "**Refused:**" in text.split("\n## broken-json\n", 1)[1].split("\n## ", 1)[0]
    assert "**unreachable**: ssh: connect" in text


def test_markdown_fences_and_cells_survive_hostile_text(harden_doc):
    doc = copy.deepcopy(harden_doc)
    host = next(h for h in doc["hosts"] if h["host"] == "stock")
    host["plan"]["changes"][0]["diff"] = "+a ```` fence\n+b | pipe\n"
    host["results"][0] |= {"status": "fail", "evidence": ["x | y", "line\nbreak"]}
    text = markdown.render(doc)
    assert "`````diff\n+a ```` fence\n+b | pipe\n`````" in text
    assert "x \\| y; line break" in text
    assert markdown.fence("no ticks") == "```" and markdown.fence("``` and ````") == "`````"


def test_a_plan_nothing_was_asked_of_shows_no_validation_verdict(harden_doc):
    """A refused or empty plan is never sent to the host: 'Validation: ok' would claim a check that never ran."""
    doc = copy.deepcopy(harden_doc)
    host = next(h for h in doc["hosts"] if h["host"] == "broken-json")
    host["validation"] = {"ok": True, "steps": []}  # what validate_on_host returns for a refused plan
    section = markdown.render(doc).split("\n## broken-json\n", 1)[1].split("\n## ", 1)[0]
    assert "**Refused:**" in section and "Validation" not in section
    assert html.render(doc).count("<h4>Validation") == html.render(harden_doc).count("<h4>Validation") - 1
    stock = next(h for h in doc["hosts"] if h["host"] == "stock")
    assert stock["validation"]["steps"]
    assert "Validation: **ok**" in markdown.render(doc).split("\n## stock\n", 1)[1].split("\n## ", 1)[0]


def test_audit_markdown_summarises_without_a_plan(audit_doc):
    text = markdown.render(audit_doc)
    assert text.startswith(f"# Docker audit report: {len(SCENARIOS) + 1} hosts")  # every fixture, and gone-01
    assert "Fixable by `invoke harden`" in text and "```diff" not in text
    assert "| 2.9 | waived | CHG-1234: images need host uids | 2027-03-31 |" in text


# --- HTML (static; the browser tests are in test_report_html.py) -----------------------------------------


class _Assets(HTMLParser):
    """Every URL the page would load or link to."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "data") and value is not None:
                self.urls.append((tag, value))


def test_html_is_self_contained(harden_doc):
    page = html.render(harden_doc)
    parser = _Assets()
    parser.feed(page)
    external = [(t, u) for t, u in parser.urls if not (u.startswith(("#", "data:")))]
    assert external == []
    assert "@import" not in page and "url(" not in page and "<script src" not in page


def test_html_escapes_what_hosts_say(harden_doc):
    doc = copy.deepcopy(harden_doc)
    host = next(h for h in doc["hosts"] if h["host"] == "stock")
    host["results"][0] |= {"status": "fail", "evidence": ["<script>alert(1)</script>"]}
    host["plan"]["changes"][0]["diff"] = "+<img src=x onerror=alert(2)>\n"
    page = html.render(doc)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page


# --- the task and its helpers ----------------------------------------------------------------------------


def test_invoke_report_merges_shards_into_one_report(tmp_path, audit_doc):
    first = dict(audit_doc, hosts=audit_doc["hosts"][:5])
    rest = dict(audit_doc, hosts=audit_doc["hosts"][5:], run_id="20260115T091000Z-bbbbbb")
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "a.json").write_text(json.dumps(first))
    (tmp_path / "shards" / "b.json").write_text(json.dumps(rest))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(rf.ROOT),
            "report",
            "shards/a.json",
            "--merge",
            "shards/b.json",
            "--format",
            "json,md",
            "--out",
            "out",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [h["host"] for h in merged["hosts"]] == [h["host"] for h in audit_doc["hosts"]]
    assert len(merged["merged_from"]) == 2 and (tmp_path / "out" / "report.md").is_file()
    assert "report written to out/results.json" in done.stderr


def test_formats_and_paths_are_checked(tmp_path):
    assert parse_formats("HTML, md,html") == ["html", "md"]
    with pytest.raises(RemediateError, match="unknown report format pdf"):
        parse_formats("html,pdf")
    for name in ("b.json", "a.json"):
        (tmp_path / name).write_text("{}")
    assert paths_from(f"{tmp_path}/*.json", None) == [tmp_path / "a.json", tmp_path / "b.json"]
    with pytest.raises(RemediateError, match="no results file matches"):
        paths_from(f"{tmp_path}/*.missing")
