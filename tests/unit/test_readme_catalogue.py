"""The README's catalogue table says what the catalogue implements, section by section, counted from it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from remediate.checks import catalogue

README = Path(__file__).resolve().parents[2] / "README.md"
# Recommendations per section in the CIS Docker Benchmark v1.6.0 (manual ones included).
CIS_TOTALS = {"1.1": 18, "1.2": 2, "2": 18, "3": 24, "4": 12, "5": 32, "6": 2, "7": 9}
ROW = re.compile(
    r"^\| (?P<section>1\.1|1\.2|[2-7]|REM-\*) [^|]*\| (?P<done>\d+)(?: / (?P<total>\d+))? \|", re.MULTILINE
)


def section(check_id: str) -> str:
    if check_id.startswith("REM-"):
        return "REM-*"
    parts = check_id.split(".")
    return ".".join(parts[:2]) if parts[0] == "1" else parts[0]


def test_every_catalogue_id_falls_in_a_cis_section_within_its_total():
    counts = Counter(section(c) for c in catalogue())
    assert set(counts) <= {*CIS_TOTALS, "REM-*"}, counts
    assert all(counts[s] <= total for s, total in CIS_TOTALS.items()), counts


def test_the_readme_table_says_how_many_checks_of_each_section_are_implemented():
    counts = Counter(section(c) for c in catalogue())
    rows = {m["section"]: (int(m["done"]), m["total"] and int(m["total"])) for m in ROW.finditer(README.read_text())}
    assert rows == {**{s: (counts[s], total) for s, total in CIS_TOTALS.items()}, "REM-*": (counts["REM-*"], None)}
