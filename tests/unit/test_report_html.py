"""The HTML report in headless Chromium: it renders without a console message, its matrix is the results,
its filters and sorting work from the URL, and a screenshot is kept.

Screenshots go to reports/artifacts/ (REMEDIATE_ARTIFACTS overrides it): report-unit.png here,
report-lab.png from tests/lab/test_reports.py.
"""

from __future__ import annotations

import pytest

from remediate.report import write_reports
from tests import chromium
from tests import report_fixtures as rf
from tests.report_page import Matrix


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not chromium.BINARY:
        pytest.fail("chromium is not installed (setup.sh installs Debian's chromium package)")
    doc = rf.fleet("harden")
    out = tmp_path_factory.mktemp("html")
    [path] = write_reports(doc, out, ["html"])
    return doc, path, out / "profile"


def test_page_renders_without_console_messages_and_matrix_is_the_results(page):
    doc, path, profile = page
    loaded = chromium.load(path.as_uri(), profile)
    assert loaded.console == []
    matrix = Matrix(loaded.dom)
    assert matrix.ready, "the page's script did not run to its end"
    assert [r.host for r in matrix.rows] == [h["host"] for h in doc["hosts"]]
    assert matrix.shown == f"{len(doc['hosts'])} of {len(doc['hosts'])} hosts shown"
    for status in ("fail", "error", "warn", "waived", "pass"):
        expected = {h["host"]: {r["id"] for r in h.get("results", []) if r["status"] == status} for h in doc["hosts"]}
        assert matrix.cells_with(status) == expected, status
    assert any(matrix.cells_with("fail").values()) and matrix.cells_with("waived")["stock"] == {"2.9"}
    gone = next(r for r in matrix.rows if r.host == "gone-01")
    assert gone.cells == {} and gone.attrs["data-status"] == "unreachable"


def test_filters_and_sort_from_the_url(page):
    doc, path, profile = page
    matrix = Matrix(chromium.load(path.as_uri() + "#cols=failing&sort=score&dir=asc", profile).dom)
    failing_somewhere = {
        r["id"] for h in doc["hosts"] for r in h.get("results", []) if r["status"] in ("fail", "error")
    }
    for row in matrix.rows:
        assert set(row.cells) - row.hidden_cells == set(row.cells) & failing_somewhere, row.host
    scores = [(-1 if h.get("score") is None else h["score"], i) for i, h in enumerate(doc["hosts"])]
    assert [r.host for r in matrix.rows] == [doc["hosts"][i]["host"] for _, i in sorted(scores)]

    matrix = Matrix(chromium.load(path.as_uri() + "#q=tcp&rows=pending", profile).dom)
    pending = {h["host"] for h in doc["hosts"] if h.get("plan") and h["plan"]["changes"]}
    assert matrix.visible() == [h["host"] for h in doc["hosts"] if "tcp" in h["host"] and h["host"] in pending]
    assert matrix.shown == f"{len(matrix.visible())} of {len(doc['hosts'])} hosts shown"

    matrix = Matrix(chromium.load(path.as_uri() + "#sort=check:REM-TCP", profile).dom)
    tcp_failing = [
        h["host"]
        for h in doc["hosts"]
        if any(r["id"] == "REM-TCP" and r["status"] == "fail" for r in h.get("results", []))
    ]
    assert [r.host for r in matrix.rows][: len(tcp_failing)] == tcp_failing


def test_screenshot_is_kept_as_an_artifact(page):
    _, path, profile = page
    rf.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = chromium.screenshot(path.as_uri(), rf.ARTIFACTS / "report-unit.png", profile)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_console_check_sees_errors(tmp_path):
    """The console assertion above is not vacuous: a page that throws is caught."""
    if not chromium.BINARY:
        pytest.fail("chromium is not installed (setup.sh installs Debian's chromium package)")
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    console = chromium.load(bad.as_uri(), tmp_path / "profile").console
    assert any("undefinedFunction is not defined" in line for line in console)
