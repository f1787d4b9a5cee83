"""Checks as data: what a check is, what it concluded, and how sure we are.

A check's words (title, rationale, remediation, CIS reference, severity)
live in catalogue.yml; its logic is one small predicate registered under the
same id. A predicate returns an Outcome: a status and evidence a person can
verify on the host (file and line, the mode found against the mode allowed,
the command output), never a bare yes/no.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from remediate.severity import SEVERITIES

PASS, FAIL, WARN, INFO, NA, ERROR, WAIVED = "pass", "fail", "warn", "info", "not-applicable", "error", "waived"
STATUSES = (PASS, FAIL, WARN, INFO, NA, ERROR, WAIVED)


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: str
    concern: str
    rationale: str
    remediation: str
    cis: str | None = None
    reference: str = ""
    fixable: bool = False
    advisory: bool = False  # a failure is reported as warn: the control needs more than config (a plugin, a service)

    def to_json(self) -> dict:
        return asdict(self)

    def __reduce__(self):
        """A catalogue check is pickled by id (a worker process's results): unpickled, it is the catalogue's own,
        so a fleet's results share its words instead of carrying a copy a host."""
        from remediate.checks import catalogue

        known = catalogue().get(self.id)
        if known is not None and replace(known, severity=self.severity) == self:
            return _catalogued, (self.id, self.severity)
        return _check, (self.to_json(),)


def _catalogued(check_id: str, severity: str) -> Check:
    from remediate.checks import catalogue

    known = catalogue()[check_id]
    return known if known.severity == severity else replace(known, severity=severity)


def _check(fields: dict) -> Check:
    return Check(**fields)


@dataclass(frozen=True)
class Outcome:
    status: str
    evidence: tuple[str, ...] = ()

    @staticmethod
    def passed(*evidence: str) -> Outcome:
        return Outcome(PASS, tuple(evidence))

    @staticmethod
    def failed(*evidence: str) -> Outcome:
        return Outcome(FAIL, tuple(evidence))

    @staticmethod
    def na(*evidence: str) -> Outcome:
        return Outcome(NA, tuple(evidence))

    @staticmethod
    def info(*evidence: str) -> Outcome:
        return Outcome(INFO, tuple(evidence))

    @staticmethod
    def of(ok: bool, *evidence: str) -> Outcome:
        return Outcome(PASS if ok else FAIL, tuple(evidence))


@dataclass(frozen=True, slots=True)
class Result:
    """A check's verdict on one host, after policy and waivers."""

    check: Check
    status: str
    evidence: tuple[str, ...] = ()
    waiver: dict | None = None

    def to_json(self) -> dict:
        data: dict = {
            "id": self.check.id,
            "cis": self.check.cis,
            "title": self.check.title,
            "severity": self.check.severity,
            "concern": self.check.concern,
            "status": self.status,
            "fixable": self.check.fixable,
            "evidence": list(self.evidence),
        }
        if self.waiver:
            data["waiver"] = self.waiver
        return data


Predicate = Callable[..., Outcome]


@dataclass
class Registry:
    predicates: dict[str, Predicate] = field(default_factory=dict)

    def register(self, check_id: str) -> Callable[[Predicate], Predicate]:
        def decorate(func: Predicate) -> Predicate:
            if check_id in self.predicates:
                raise ValueError(f"two predicates for check {check_id}")
            self.predicates[check_id] = func
            return func

        return decorate


REGISTRY = Registry()
predicate = REGISTRY.register
