"""What the human-readable reports show, computed once from a results document.

The HTML and Markdown templates render this view and never count anything
themselves, so the two always agree. Numbers (README "Reports"):
- fleet score: passed + waived results over decided ones (pass, fail, warn,
  waived) across every reached host, the same formula as one host's score,
  pooled;
- failing checks by severity: per severity, the failed results, the distinct
  checks that fail somewhere and the hosts where one fails;
- pending changes: the file changes and service actions of every plan (harden
  documents); an audit document has no plan and shows its fixable failures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from remediate.checks import catalogue
from remediate.checks.model import ERROR, FAIL, INFO, NA, PASS, SEVERITIES, WAIVED, WARN, Check, severity_rank

# Worst first: the order of a host's issues and of a matrix column sort.
STATUS_RANK = {ERROR: 0, FAIL: 1, WARN: 2, WAIVED: 3, INFO: 4, PASS: 5, NA: 6}
ISSUES = (ERROR, FAIL, WARN)
APPLIED = ("changed", "unchanged")  # apply outcomes after which a plan's steps are in place
_DIFF_META = (
    "diff --git",
    "--- ",
    "+++ ",
    "old mode",
    "new mode",
    "new file mode",
    "deleted file mode",
    "old owner",
    "new owner",
    "Binary files",
)


@dataclass
class Column:
    """A check as a matrix column: what it is and on how many hosts it fails or errors."""

    id: str
    title: str
    severity: str
    concern: str
    bad: int = 0


@dataclass(frozen=True)
class DiffLine:
    kind: str  # meta, hunk, add, del, note, ctx
    text: str


@dataclass
class Change:
    """One planned file change, with its diff split into lines a template can colour."""

    data: dict
    lines: list[DiffLine]

    @property
    def mode_change(self) -> str | None:
        old, new = self.data.get("old_mode"), self.data.get("mode")
        return f"{old} → {new}" if old and new and old != new else None

    @property
    def owner_change(self) -> str | None:
        old = self.data.get("old_owner") and f"{self.data['old_owner']}:{self.data.get('old_group')}"
        new = f"{self.data.get('owner')}:{self.data.get('group')}"
        return f"{old} → {new}" if old and old != new else None


@dataclass
class HostEntry:
    """One host's entry of a results document, its results indexed and sorted for the templates."""

    entry: dict
    results: list[dict] = field(default_factory=list)
    by_id: dict[str, dict] = field(default_factory=dict)
    issues: list[dict] = field(default_factory=list)
    waivers: list[dict] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.entry["host"]

    @property
    def status(self) -> str:
        return self.entry.get("status", "ok")

    @property
    def reached(self) -> bool:
        return self.status == "ok"

    @property
    def error(self) -> str | None:
        return self.entry.get("error")

    @property
    def score(self) -> int | None:
        return self.entry.get("score") if self.reached else None

    @property
    def counts(self) -> dict[str, int]:
        return self.entry.get("counts") or {}

    @property
    def failing(self) -> int:
        return self.counts.get(FAIL, 0) + self.counts.get(ERROR, 0)

    @property
    def plan(self) -> dict | None:
        return self.entry.get("plan")

    @property
    def validation(self) -> dict | None:
        return self.entry.get("validation")

    @property
    def apply(self) -> dict | None:
        return self.entry.get("apply")

    @property
    def actions(self) -> list[dict]:
        return (self.plan or {}).get("actions", [])

    @property
    def pending(self) -> int:
        """Planned steps not in place: file changes and service actions (0 without a plan, or once applied)."""
        if not self.plan or (self.apply and self.apply.get("outcome") in APPLIED):
            return 0
        return len(self.changes) + len(self.actions)

    @property
    def anchor(self) -> str:
        return "host-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)

    @property
    def effective(self) -> dict:
        return self.entry.get("effective") or {}


@dataclass
class SeverityRow:
    severity: str
    results: int
    checks: int
    hosts: int


@dataclass
class Summary:
    hosts: int
    reached: int
    unreachable: int
    failed: int
    score: int | None
    by_severity: list[SeverityRow]
    errors: int
    warnings: int
    waived: int
    expired_waivers: int
    fixable_failures: int
    changes: int
    actions: int
    hosts_with_changes: int
    refused: int
    held_back: int
    outcomes: dict[str, int]


@dataclass
class FleetView:
    doc: dict
    hosts: list[HostEntry]
    columns: list[Column]
    summary: Summary
    guidance: dict[str, Check]

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def options(self) -> dict:
        return self.doc.get("options") or {}

    @property
    def dry_run(self) -> bool:
        return self.kind == "harden" and bool(self.options.get("dry_run"))

    @property
    def sources(self) -> list[dict]:
        return self.doc.get("merged_from") or []


def build(doc: dict) -> FleetView:
    hosts = [_host(entry) for entry in doc["hosts"]]
    columns = _columns(hosts)
    return FleetView(doc, hosts, columns, _summary(hosts), _guidance(columns))


def diff_lines(text: str) -> list[DiffLine]:
    """A git-style diff split into kinds: header lines are meta until the first hunk, then by first character."""
    lines, in_hunk = [], False
    for line in text.splitlines():
        if line.startswith("@@"):
            in_hunk, kind = True, "hunk"
        elif not in_hunk:
            kind = "meta" if line.startswith(_DIFF_META) else "ctx"
        else:
            kind = {"+": "add", "-": "del", "\\": "note"}.get(line[:1], "ctx")
        lines.append(DiffLine(kind, line))
    return lines


def issue_order(result: dict) -> tuple:
    return (STATUS_RANK.get(result.get("status", ""), len(STATUS_RANK)), -_severity(result))


def _host(entry: dict) -> HostEntry:
    results = list(entry.get("results") or [])
    changes = [Change(c, diff_lines(c.get("diff") or "")) for c in (entry.get("plan") or {}).get("changes", [])]
    return HostEntry(
        entry=entry,
        results=results,
        by_id={r["id"]: r for r in results},
        issues=sorted((r for r in results if r.get("status") in ISSUES), key=issue_order),
        waivers=[r for r in results if r.get("waiver")],
        changes=changes,
    )


def _columns(hosts: list[HostEntry]) -> list[Column]:
    """Every check any host ran, in the order the hosts list them (catalogue order)."""
    columns: dict[str, Column] = {}
    for host in hosts:
        for r in host.results:
            column = columns.setdefault(
                r["id"], Column(r["id"], r.get("title", ""), r.get("severity", "info"), r.get("concern", ""))
            )
            if r.get("status") in (FAIL, ERROR):
                column.bad += 1
    return list(columns.values())


def _summary(hosts: list[HostEntry]) -> Summary:
    reached = [h for h in hosts if h.reached]
    totals: Counter[str] = Counter()
    for h in reached:
        totals.update(h.counts)
    decided = sum(totals[s] for s in (PASS, FAIL, WARN, WAIVED))
    by_severity = []
    for severity in reversed(SEVERITIES):
        failed = [
            (h.name, r["id"])
            for h in reached
            for r in h.results
            if r.get("status") == FAIL and r.get("severity") == severity
        ]
        by_severity.append(SeverityRow(severity, len(failed), len({c for _, c in failed}), len({h for h, _ in failed})))
    all_results = [r for h in reached for r in h.results]
    plans = [h.plan for h in reached if h.plan]
    return Summary(
        hosts=len(hosts),
        reached=len(reached),
        unreachable=sum(h.status == "unreachable" for h in hosts),
        failed=sum(h.status not in ("ok", "unreachable") for h in hosts),
        score=round(100 * (totals[PASS] + totals[WAIVED]) / decided) if decided else None,
        by_severity=by_severity,
        errors=totals[ERROR],
        warnings=totals[WARN],
        waived=totals[WAIVED],
        expired_waivers=sum(1 for r in all_results if r.get("status") == ERROR and r.get("waiver")),
        fixable_failures=sum(1 for r in all_results if r.get("status") == FAIL and r.get("fixable")),
        changes=sum(len(h.changes) for h in reached if h.pending),
        actions=sum(len(h.actions) for h in reached if h.pending),
        hosts_with_changes=sum(1 for h in reached if h.pending),
        refused=sum(1 for p in plans if p.get("refused")),
        held_back=sum(len(p.get("held_back", [])) for p in plans),
        outcomes=dict(Counter(h.apply["outcome"] for h in reached if h.apply)),
    )


def _guidance(columns: list[Column]) -> dict[str, Check]:
    """Rationale and remediation from this version's catalogue, for the checks it knows."""
    known = catalogue()
    return {c.id: known[c.id] for c in columns if c.id in known}


def _severity(result: dict) -> int:
    severity = result.get("severity")
    return severity_rank(severity) if severity in SEVERITIES else 0
