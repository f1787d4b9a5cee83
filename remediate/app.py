"""What each task does, end to end; the tasks (remediate/cli.py) only parse options and call these.

Every function returns the process exit code, so the same behaviour is
reachable from tests without going through Invoke.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from remediate import checks, output, report, results
from remediate import harden as harden_mod
from remediate.apply.engine import ApplyOptions, apply_connect_options
from remediate.apply.rollback import RUN_ID, clear_lock, rollback_host
from remediate.audit import audit_host
from remediate.errors import UsageError
from remediate.facts.gather import gather
from remediate.facts.model import HostFacts
from remediate.facts.summary import summarize
from remediate.harden import HardenOptions
from remediate.inventory.shard import ShardError
from remediate.plan.planner import unfixed
from remediate.policy import policies_for
from remediate.target import Target, needs_become

# Exit codes (README "Exit codes"): like `terraform plan -detailed-exitcode`, worst first.
EXIT_OK, EXIT_ERROR, EXIT_FINDINGS, EXIT_UNREACHABLE = 0, 1, 2, 3


def collect_facts(target: Target, save_dir: Path | None = None, keep: Callable[[HostFacts], Any] = lambda f: f):
    """Gather facts from every selected host in parallel; each host's are saved as JSON as soon as they are read
    (when asked), and the outcome holds keep(facts): the facts task keeps a summary line, not the facts."""
    _, fleet = target.fleet(read_only=True)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)

    def work(conn, host):
        facts = gather(conn, become=needs_become(host))
        if save_dir is not None:
            facts.save(save_dir / f"{host.name}.json")
        return keep(facts)

    progress = output.Progress(len(fleet.hosts), verb="gathering facts")
    outcomes = fleet.run(work, progress=progress.update)
    progress.finish()
    return outcomes


def show_facts(target: Target, save_dir: Path | None = None) -> int:
    outcomes = collect_facts(target, save_dir, keep=summarize)
    output.facts_summary(outcomes)
    if save_dir is not None:
        output.info(f"facts saved in {save_dir}/")
    return hosts_exit_code(outcomes)


def hosts_exit_code(outcomes, refused=lambda value: False) -> int:
    """Tasks without findings (facts, rollback, unlock): 1 a host failed or refused, 3 some unreachable, else 0."""
    if any(o.status == "failed" for o in outcomes) or any(refused(o.value) for o in outcomes if o.ok):
        return EXIT_ERROR
    if any(o.status == "unreachable" for o in outcomes):
        return EXIT_UNREACHABLE
    return EXIT_OK


@dataclass
class AuditOptions:
    only: str | None = None
    skip: str | None = None
    fail_on: str = "high"
    profile: str | None = None
    json_path: Path | None = None
    show_passed: bool = False
    report_dir: Path | None = None


def run_audit(target: Target, opts: AuditOptions):
    """Audit every selected host; returns (results document, outcomes settled as each host ended)."""
    selected = checks.select(opts.only, opts.skip)
    if opts.fail_on not in checks.model.SEVERITIES:
        raise UsageError(f"--fail-on must be one of {', '.join(checks.model.SEVERITIES)}")
    inventory, fleet = target.fleet(read_only=True)
    # Policies are resolved before connecting, so a bad policy stops the run before any host is touched.
    policies = policies_for(fleet.hosts, opts.profile)
    started = dt.datetime.now(dt.UTC)
    progress = output.Progress(len(fleet.hosts), verb="auditing")

    def work(conn, host):
        facts = gather(conn, become=needs_become(host))
        return audit_host(facts, policies[host.name], selected, host.name, tuple(host.groups))

    outcomes = fleet.run(work, progress=progress.update, settle=partial(results.settle, keep_passed=opts.show_passed))
    doc = results.Document(
        "audit",
        results.new_run_id(),
        started,
        str(inventory.source),
        target.hosts,
        {"only": opts.only, "skip": opts.skip, "fail_on": opts.fail_on, "profile": opts.profile},
        outcomes,
    )
    return doc, outcomes


def audit(target: Target, opts: AuditOptions) -> int:
    doc, outcomes = run_audit(target, opts)
    output.audit_report(outcomes, fail_on=opts.fail_on, show_passed=opts.show_passed)
    _write_results(doc, opts.json_path, opts.report_dir)
    return audit_exit_code(outcomes, opts.fail_on)


def audit_exit_code(outcomes, fail_on: str) -> int:
    if any(o.status == "failed" for o in outcomes) or any(o.value.errors() for o in outcomes if o.ok):
        return EXIT_ERROR
    if any(o.status == "unreachable" for o in outcomes):
        return EXIT_UNREACHABLE
    if any(o.value.failing(fail_on) for o in outcomes if o.ok):
        return EXIT_FINDINGS
    return EXIT_OK


def harden(
    target: Target, opts: HardenOptions, json_path: Path | None = None, confirm=None, report_dir: Path | None = None
) -> int:
    """Plan, show, confirm and roll out; returns the exit code (README "Exit codes")."""
    run_id = results.new_run_id()
    started = dt.datetime.now(dt.UTC)
    inventory, fleet, outcomes = _plan_with_progress(target, opts)
    output.plan_report(outcomes)
    by_name = {o.host: o for o in outcomes}
    ready = [o.host for o in outcomes if o.ok and o.value.ready]
    rollout = None
    if not opts.dry_run and ready:
        order = harden_mod.batches(ready, opts.batch_size, opts.canary)
        if not opts.yes and not (confirm or _ask)(
            f"apply these changes to {len(ready)} host(s) in {len(order)} batch(es)?"
        ):
            output.info("cancelled: nothing applied")
            _write_harden(run_id, started, inventory, target, opts, outcomes, json_path, report_dir)
            return EXIT_ERROR
        progress = output.Progress(len(ready), verb="applying")
        rollout = harden_mod.Rollout(fleet, by_name, opts, run_id, progress=progress.update)
        rollout.run(order, output.info)
    output.harden_recap(
        outcomes, dry_run=opts.dry_run or rollout is None, stopped_by=rollout.stopped_by if rollout else None
    )
    _write_harden(run_id, started, inventory, target, opts, outcomes, json_path, report_dir)
    return harden_exit_code(outcomes, dry_run=opts.dry_run)


def _plan_with_progress(target: Target, opts: HardenOptions):
    """(inventory, fleet, outcomes): the inventory is resolved once, for the plan and the rollout alike."""
    if target.shard and not opts.dry_run:
        raise ShardError(f"--shard {target.shard}: only a dry run is sharded (audit, facts, harden --dry-run)")
    inventory, fleet = target.fleet(read_only=opts.dry_run)
    progress = output.Progress(len(fleet.hosts), verb="planning")
    return inventory, fleet, harden_mod.plan_fleet(fleet, opts, progress=progress.update)


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _write_harden(run_id, started, inventory, target, opts, outcomes, json_path, report_dir) -> None:
    doc = results.Document("harden", run_id, started, str(inventory.source), target.hosts, opts.to_json(), outcomes)
    _write_results(doc, json_path, report_dir)


def _write_results(doc: results.Document, json_path: Path | None, report_dir: Path | None) -> None:
    """The results file streamed host by host; the reports need the whole document at once."""
    if json_path:
        doc.write(json_path)
        output.info(f"results written to {json_path}")
    if report_dir:
        for path in report.write_reports(doc.to_json(), report_dir):
            output.info(f"report written to {path}")


def harden_exit_code(outcomes, *, dry_run: bool) -> int:
    """1 errors or failed hosts, 3 unreachable, 2 changes still pending (dry-run) or fixable checks left failing
    for a reason other than the policy's hold_back (plan.planner.unfixed), 0 done / nothing to do."""
    oks = [o.value for o in outcomes if o.ok]
    if any(o.status == "failed" for o in outcomes) or any(v.errors() for v in oks):
        return EXIT_ERROR
    if not dry_run and any(
        v.apply and (v.apply.outcome in ("failed", "rolled-back", "refused", "skipped") or v.apply.preexisting)
        for v in oks
    ):
        return EXIT_ERROR
    if any(o.status == "unreachable" for o in outcomes):
        return EXIT_UNREACHABLE
    if any(v.pending() for v in oks) and (dry_run or any(v.apply is None for v in oks if v.pending())):
        return EXIT_FINDINGS
    if any(not v.plan.refused and unfixed(v.plan, v.policy) for v in oks):
        return EXIT_FINDINGS
    return EXIT_OK


def rollback(target: Target, from_run: str | None, force: bool = False, restart_timeout: int = 90) -> int:
    """Put back the backups of a harden run (default: each host's newest live run), safely, in parallel."""
    if from_run is not None and not RUN_ID.fullmatch(from_run):
        raise UsageError(f"--run {from_run!r} is not a run id (like 20261128T153055Z-3d51e6)")
    _, fleet = target.fleet()
    run_id = results.new_run_id()
    progress = output.Progress(len(fleet.hosts), verb="rolling back")
    outcomes = fleet.reaching_with(apply_connect_options(fleet.options, restart_timeout)).run(
        lambda conn, host: rollback_host(
            conn,
            run_id,
            from_run=from_run,
            become=needs_become(host),
            force=force,
            options=ApplyOptions(restart_timeout=restart_timeout),
        ),
        progress=progress.update,
    )
    output.apply_recap(outcomes)
    return hosts_exit_code(outcomes, lambda result: result.outcome in ("failed", "refused"))


def unlock(target: Target, force: bool = False) -> int:
    """Clear stale harden locks (a run that died); a live run's lock needs --force."""
    _, fleet = target.fleet()
    outcomes = fleet.run(lambda conn, host: clear_lock(conn, become=needs_become(host), force=force))
    rows = [
        [o.host, ("cleared" if o.value[0] else "refused") if o.ok else o.status, o.value[1] if o.ok else o.error or ""]
        for o in outcomes
    ]
    print(output.table(["host", "lock", "detail"], rows))
    return hosts_exit_code(outcomes, lambda cleared_detail: not cleared_detail[0])
