"""Audit one host: facts -> effective configuration -> checks under the host's policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from remediate.checks import CheckContext, evaluate
from remediate.checks.model import ERROR, FAIL, PASS, STATUSES, WAIVED, WARN, Check, Result, severity_rank
from remediate.facts.model import HostFacts
from remediate.facts.summary import summarize
from remediate.policy import Policy


@dataclass
class HostAudit:
    host: str
    facts: HostFacts
    policy: Policy
    results: list[Result] = field(default_factory=list)
    effective: dict | None = None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            counts[r.status] += 1
        return counts

    def score(self) -> int:
        """Share of decided checks that pass (waived counts as passed), in percent."""
        decided = [r for r in self.results if r.status in (PASS, FAIL, WARN, WAIVED)]
        good = [r for r in decided if r.status in (PASS, WAIVED)]
        return round(100 * len(good) / len(decided)) if decided else 100

    def failing(self, fail_on: str) -> list[Result]:
        return [
            r for r in self.results if r.status == FAIL and severity_rank(r.check.severity) >= severity_rank(fail_on)
        ]

    def errors(self) -> list[Result]:
        return [r for r in self.results if r.status == ERROR]

    def to_json(self) -> dict:
        summary = summarize(self.facts)
        return {
            "host": self.host,
            "policy": self.policy.name,
            "docker": {"state": summary.docker_state, "version": summary.version},
            "os": self.facts.file("/etc/os-release").text() and _os_name(self.facts),
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
    return HostAudit(host_name, ctx.facts, ctx.policy, results, effective)
