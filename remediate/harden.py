"""invoke harden, end to end: plan every host, show it, then roll it out in batches.

Phase 1 (always, one connection per host): facts, audit, plan, validation on
the host. A dry run stops there. Phase 2 (after confirmation): the hosts with
changes, canary first, then batches; a batch runs in parallel, and the
rollout stops once --max-fail hosts have failed or on Ctrl-C (hosts in flight
finish or roll back; the rest are reported as skipped). Apply reconnects and
trusts nothing from phase 1 but the plan: the compare-and-swap refuses any
host whose files changed in between.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from remediate import results
from remediate.apply.engine import FAILED, ApplyOptions, ApplyResult, apply_connect_options, apply_host
from remediate.apply.validation import Validation, validate_on_host
from remediate.audit import HostAudit, audit_view
from remediate.errors import RemediateError, UsageError
from remediate.facts.gather import gather
from remediate.plan import Plan, plan_view
from remediate.plan.view import HostView
from remediate.policy import Policy, policies_for
from remediate.runner import NOT_STARTED, Fleet, HostOutcome
from remediate.target import needs_become

SKIPPED = "skipped"


@dataclass
class HardenOptions:
    dry_run: bool = False
    yes: bool = False
    accept_risk: frozenset[str] = frozenset()
    repair_json: bool = False
    profile: str | None = None
    batch_size: str = "100%"
    max_fail: int = 1
    canary: str | None = None
    restart_timeout: int = 90
    carry_images: bool = False  # carry every tagged image into userns-remap's new store, not only the verify image

    def to_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "accept_risk": sorted(self.accept_risk),
            "repair_json": self.repair_json,
            "profile": self.profile,
            "batch_size": self.batch_size,
            "max_fail": self.max_fail,
            "canary": self.canary,
            "carry_images": self.carry_images,
        }


@dataclass
class HostHarden:
    """One host's harden: its audit, plan and validation, and the apply outcome when there was one."""

    audit: HostAudit
    plan: Plan
    validation: Validation
    groups: tuple[str, ...] = ()
    apply: ApplyResult | None = None

    @property
    def policy(self) -> Policy:
        return self.audit.policy

    @property
    def ready(self) -> bool:
        """Something to apply, and the host accepted it in validation."""
        return not self.plan.refused and not self.plan.empty and self.validation.ok

    def pending(self) -> bool:
        return not self.plan.empty and not self.plan.refused

    @property
    def lock(self) -> str | None:
        """Who held harden's lock on the host when it was planned: a run in progress, or one that died."""
        return self.audit.apply_lock

    def settled(self) -> HostHarden:
        """A dry run's host once its document entry is written (results.settle): no facts left to apply with."""
        return replace(self, audit=self.audit.settled())

    def errors(self) -> list[str]:
        out = [self.plan.refused] if self.plan.refused else []
        out += self.validation.errors()
        out += [f"check {r.check.id}: {'; '.join(r.evidence)}" for r in self.audit.errors()]
        return out

    def to_json(self) -> dict:
        return {
            **self.audit.to_json(),
            "plan": self.plan.to_json(),
            "validation": self.validation.to_json(),
            "lock": self.lock,
            "apply": self.apply.to_json() if self.apply else None,
        }


def batches(names: Sequence[str], batch_size: str, canary: str | None) -> list[list[str]]:
    """The rollout order: the canary alone first (a host name, or 'first'), then batches of N or N%."""
    names = list(names)
    out: list[list[str]] = []
    if canary and names:
        pick = names[0] if canary == "first" else canary
        if pick not in names:
            raise UsageError(f"--canary {canary}: not one of the hosts with changes ({', '.join(names)})")
        names.remove(pick)
        out.append([pick])
    text = str(batch_size).strip()
    try:
        size = max(1, -(-len(names) * int(text[:-1]) // 100)) if text.endswith("%") else int(text)
    except ValueError:
        raise UsageError(f"--batch-size {batch_size!r}: give a number of hosts or a percentage like 25%") from None
    if size < 1:
        raise UsageError("--batch-size must be at least 1")
    out += [names[i : i + size] for i in range(0, len(names), size)]
    return out


@contextmanager
def interruptible(stop: threading.Event, notice: Callable[[str], None]):
    """Ctrl-C sets `stop` instead of killing the run: hosts in flight finish (or roll back) first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        notice(
            "interrupted: finishing the hosts in flight (they end applied or rolled back); "
            "no new host is started. Press Ctrl-C again to abandon waiting."
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class Rollout:
    """Phase 2 over the hosts that are ready; fills each HostHarden.apply."""

    fleet: Fleet
    outcomes: dict[str, HostOutcome]
    opts: HardenOptions
    run_id: str
    progress: Callable | None = None
    stopped_by: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def work(self, conn, host) -> ApplyResult:
        value: HostHarden = self.outcomes[host.name].value
        if value.audit.facts is None:
            raise RemediateError(f"internal error: {host.name} was settled as in a dry run; apply needs its facts")
        options = ApplyOptions(restart_timeout=self.opts.restart_timeout, verify_image=value.policy.verify_image)
        return apply_host(
            conn,
            value.audit.facts,
            value.plan,
            value.policy,
            run_id=self.run_id,
            become=needs_become(host),
            options=options,
            groups=value.groups,
        )

    def run(self, order: list[list[str]], notice: Callable[[str], None]) -> None:
        failures = 0
        with interruptible(self.stop, notice):
            for batch in order:
                if self.stop.is_set() or failures >= self.opts.max_fail:
                    self._skip(batch, self.stopped_by or "the rollout was interrupted")
                    continue
                options = apply_connect_options(self.fleet.options, self.opts.restart_timeout)
                results = (
                    self.fleet.only(batch).reaching_with(options).run(self.work, progress=self.progress, stop=self.stop)
                )
                for result in results:
                    value: HostHarden = self.outcomes[result.host].value
                    value.apply = (
                        result.value
                        if result.ok
                        else ApplyResult(
                            SKIPPED if result.error == NOT_STARTED else FAILED, self.run_id, error=result.error
                        )
                    )
                    if value.apply.outcome not in ("changed", "unchanged", "held-back", SKIPPED):
                        failures += 1
                if failures >= self.opts.max_fail and not self.stopped_by:
                    self.stopped_by = f"stopped: {failures} host(s) failed (--max-fail {self.opts.max_fail})"
                if self.stop.is_set() and not self.stopped_by:
                    self.stopped_by = "stopped: interrupted (Ctrl-C)"

    def _skip(self, batch: list[str], why: str) -> None:
        for name in batch:
            self.outcomes[name].value.apply = ApplyResult(SKIPPED, self.run_id, error=why)


def plan_fleet(fleet: Fleet, opts: HardenOptions, progress=None) -> list[HostOutcome]:
    """Phase 1 on every host of the fleet: outcomes with HostHarden values, settled (results.settle) in a dry
    run, where nothing is applied after."""
    policies = policies_for(fleet.hosts, opts.profile)
    today = dt.date.today()

    def work(conn, host) -> HostHarden:
        become = needs_become(host)
        facts = gather(conn, become=become)
        groups = tuple(host.groups)
        view = HostView(facts, policies[host.name], groups, today)
        audit = audit_view(view)
        plan = plan_view(
            view, accept_risk=opts.accept_risk, repair_json=opts.repair_json, carry_images=opts.carry_images
        )
        try:
            validation = validate_on_host(conn, facts, plan, become=become)
        except RemediateError as exc:
            validation = Validation(False, [{"name": "host", "ok": False, "detail": str(exc)}])
        return HostHarden(audit, plan, validation, groups)

    return fleet.run(work, progress=progress, settle=results.settle if opts.dry_run else None)
