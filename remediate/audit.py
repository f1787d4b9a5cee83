"""Audit one host: facts -> effective configuration -> checks under the host's policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from remediate.checks import CheckContext, evaluate
from remediate.checks.model import ERROR, FAIL, PASS, STATUSES, WAIVED, WARN, Check, Result, severity_rank
from remediate.facts.model import HostFacts
from remediate.facts.summary import summarize
from remediate.policy import Policy

NOTEWORTHY = (FAIL, WARN, ERROR, WAIVED)  # what the audit shows of a host unless asked for every result


@dataclass
class HostAudit:
    host: str
    facts: HostFacts | None  # None once settled: the document entry was all it was kept for
    policy: Policy
    results: list[Result] = field(default_factory=list)  # once settled, maybe only the NOTEWORTHY ones
    effective: dict | None = None
    apply_lock: str | None = None  # who held harden's lock on the host (the apply_lock probe)
    tally: dict[str, int] | None = None  # every result's status counted, once settled

    def counts(self) -> dict[str, int]:
        if self.tally is not None:
            return dict(self.tally)
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            counts[r.status] += 1
        return counts

    def score(self) -> int:
        """Share of decided checks that pass (waived counts as passed), in percent."""
        counts = self.counts()
        decided = sum(counts[s] for s in (PASS, FAIL, WARN, WAIVED))
        return round(100 * (counts[PASS] + counts[WAIVED]) / decided) if decided else 100

    def failing(self, fail_on: str) -> list[Result]:
        return [
            r for r in self.results if r.status == FAIL and severity_rank(r.check.severity) >= severity_rank(fail_on)
        ]

    def errors(self) -> list[Result]:
        return [r for r in self.results if r.status == ERROR]

    def settled(self, keep_passed: bool = False) -> HostAudit:
        """What the terminal and the exit code read once the host's document entry is written: the noteworthy
        results (every one with keep_passed: audit --show-passed) and the count of each status."""
        kept = [r for r in self.results if keep_passed or r.status in NOTEWORTHY]
        return replace(self, facts=None, effective=None, results=kept, tally=self.counts())

    def to_json(self) -> dict:
        facts = self.facts
        if facts is None:
            raise ValueError(f"{self.host}: a settled audit has no facts left; its entry was serialized as it ended")
        summary = summarize(facts)
        return {
            "host": self.host,
            "policy": self.policy.name,
            "docker": {"state": summary.docker_state, "version": summary.version},
            "os": facts.file("/etc/os-release").text() and _os_name(facts),
            "counts": self.counts(),
            "score": self.score(),
            "results": [r.to_json() for r in self.results],
            "effective": self.effective,
        }


def _os_name(facts: HostFacts) -> str:
    from remediate.facts import parse

    return parse.os_release(facts.file("/etc/os-release").text() or "").get("PRETTY_NAME", "unknown")


def audit_host(
    facts: HostFacts,
    policy: Policy,
    checks: list[Check],
    host_name: str,
    groups: tuple[str, ...] = (),
    today: dt.date | None = None,
) -> HostAudit:
    ctx = CheckContext(facts, policy, host_name=host_name, groups=groups, today=today or dt.date.today())
    audit = _host_audit(ctx, evaluate(ctx, checks), host_name)
    facts.forget_derived()  # the audit holds what it needs; the facts stay with it until the run ends
    return audit


def audit_view(view) -> HostAudit:
    """The audit of a planner's HostView (every check, evaluated once for both the audit and the plan)."""
    return _host_audit(view.ctx, list(view.results.values()), view.ctx.host_name)


def _host_audit(ctx: CheckContext, results: list[Result], host_name: str) -> HostAudit:
    effective = ctx.effective.to_dict() if ctx.docker_installed else None
    return HostAudit(host_name, ctx.facts, ctx.policy, results, effective, ctx.facts.parsed.apply_lock)
