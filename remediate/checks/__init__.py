"""The check catalogue and its evaluation under a policy.

evaluate() runs every selected predicate on one host's context, then applies
the policy: skipped checks vanish, advisory failures become warnings, severity
overrides apply, and waivers turn a failure into "waived" (or, once expired,
into a loud error that names the waiver).
"""

from __future__ import annotations

import fnmatch
from functools import cache
from pathlib import Path

import yaml

from remediate.checks import containers, daemon, files, host, images, practices, swarm  # noqa: F401 — registers predicates
from remediate.checks.context import CheckContext
from remediate.checks.model import ERROR, FAIL, PASS, REGISTRY, SEVERITIES, WAIVED, WARN, Check, Outcome, Result
from remediate.dockerd import hardened
from remediate.errors import RemediateError

CATALOGUE = Path(__file__).with_name("catalogue.yml")
_FIELDS = {"title", "severity", "concern", "rationale", "remediation", "reference", "fixable"}


@cache
def catalogue() -> dict[str, Check]:
    """Every check, in catalogue order; a check without predicate (or the reverse) is a bug."""
    # Our own file, checked by the tests: libyaml's loader when present (the pure-Python one took 80 ms a run).
    raw = yaml.load(CATALOGUE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    checks = {}
    for check_id, spec in raw.items():
        unknown = set(spec) - _FIELDS
        if unknown or spec["severity"] not in SEVERITIES:
            raise ValueError(f"catalogue entry {check_id}: bad fields {unknown or spec['severity']}")
        cis = None if check_id.startswith("REM-") else check_id
        reference = spec.get("reference") or (
            f"CIS Docker Benchmark v1.6.0 §{check_id}" if cis else "Docker security best practices"
        )
        checks[check_id] = Check(
            id=check_id,
            cis=cis,
            reference=reference,
            fixable=bool(spec.get("fixable")) or check_id in hardened.fixed_checks(),
            **{k: spec[k] for k in ("title", "severity", "concern", "rationale", "remediation")},
        )
    missing = set(checks) ^ set(REGISTRY.predicates)
    if missing:
        raise ValueError(f"checks without predicate or predicates without catalogue entry: {sorted(missing)}")
    return checks


def select(only: str | None = None, skip: str | None = None) -> list[Check]:
    """Checks by comma-separated id globs or concerns: --only '2.*,containers', --skip '1.1.*'."""

    def matches(check: Check, spec: str) -> bool:
        return any(
            fnmatch.fnmatchcase(check.id, p.strip()) or check.concern == p.strip() for p in spec.split(",") if p.strip()
        )

    checks = list(catalogue().values())
    for spec in (only, skip):
        if spec:
            unmatched = [p for p in spec.split(",") if p.strip() and not any(matches(c, p) for c in checks)]
            if unmatched:
                raise RemediateError(
                    f"no check matches {', '.join(unmatched)} (ids like 2.9, 1.1.*, REM-TCP; "
                    "concerns: host, audit, daemon, files, containers, images, swarm)"
                )
    if only:
        checks = [c for c in checks if matches(c, only)]
    if skip:
        checks = [c for c in checks if not matches(c, skip)]
    return checks


def evaluate(ctx: CheckContext, checks: list[Check]) -> list[Result]:
    results = []
    for check in checks:
        if check.id in ctx.policy.skip:
            continue
        try:
            outcome = REGISTRY.predicates[check.id](ctx)
        except Exception as exc:
            outcome = Outcome(ERROR, (f"check could not be evaluated: {type(exc).__name__}: {exc}",))
        results.append(_apply_policy(ctx, check, outcome))
    return results


def _apply_policy(ctx: CheckContext, check: Check, outcome: Outcome) -> Result:
    policy = ctx.policy
    if check.id in policy.severity:
        check = Check(**{**check.to_json(), "severity": policy.severity[check.id]})
    status, evidence = outcome.status, outcome.evidence
    if status == FAIL and check.id in policy.advisory:
        status = WARN
        evidence += ("advisory under this policy: a warning, not a failure",)
    if status in (FAIL, WARN):
        for waiver in policy.waivers:
            if fnmatch.fnmatchcase(check.id, waiver.check) and waiver.applies(ctx.host_name, ctx.groups):
                if waiver.expired(ctx.today):
                    return Result(
                        check,
                        ERROR,
                        (
                            *evidence,
                            f"waiver EXPIRED on {waiver.expires.isoformat()} ({waiver.source}): {waiver.reason}",
                        ),
                        waiver.to_json(),
                    )
                return Result(check, WAIVED, evidence, waiver.to_json())
    return Result(check, status, evidence)


__all__ = ["FAIL", "PASS", "CheckContext", "Result", "catalogue", "evaluate", "select"]
