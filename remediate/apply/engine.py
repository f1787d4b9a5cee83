"""Apply one host's plan, or roll a run back, through the transaction script.

apply_host: lock -> prepare (compare-and-swap against the plan, backups and
manifest, staged temp files, validation) -> commit (renames, daemon-reload,
reload/restart with a bounded wait; the host restores its backups by itself
when dockerd does not come back) -> verify (facts gathered again and compared
with the plan's prediction, a container started) -> finish (or restore) ->
unlock. The outcome says which of changed / unchanged / held-back / refused /
failed (nothing changed) / rolled-back the host ended in, with the host's own
error line.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from remediate.apply.protocol import BASE, LOCKED, UNITS, Entry, Reply, Transaction, entries_for, entry_words
from remediate.apply.validation import validation_spec
from remediate.apply.verify import verify_applied
from remediate.connection import ConnectOptions
from remediate.connection.base import Connection
from remediate.errors import CommandTimeout, ConnectionFailed, RemediateError
from remediate.facts.gather import gather
from remediate.facts.model import HostFacts
from remediate.plan.model import Plan
from remediate.plan.view import HostView
from remediate.policy import Policy
from remediate.process import machine_ids, start_time

CHANGED, UNCHANGED, HELD_BACK, REFUSED, FAILED, ROLLED_BACK = (
    "changed",
    "unchanged",
    "held-back",
    "refused",
    "failed",
    "rolled-back",
)
OUTCOMES = (CHANGED, UNCHANGED, HELD_BACK, REFUSED, FAILED, ROLLED_BACK)
MANIFEST_FORMAT = "remediate.backup/1"


@dataclass(frozen=True)
class ApplyOptions:
    restart_timeout: int = 90  # seconds to wait for dockerd after a reload or restart
    verify_image: str | None = None  # a local image to start a container from after the change
    keep_runs: int = 20  # backups of this many runs are kept on each host


@dataclass
class ApplyResult:
    outcome: str
    run_id: str | None = None
    backup_dir: str | None = None
    error: str | None = None
    steps: list[dict] = field(default_factory=list)
    lock_kept: bool = False  # the connection died mid-run: the lock stays for `invoke unlock`
    # A failure the host had before this run (containers could not start then either): not blamed on the
    # change, so nothing is rolled back for it, but the host is not healthy and the exit code says so.
    preexisting: str | None = None

    def to_json(self) -> dict:
        return {
            "outcome": self.outcome,
            "run_id": self.run_id,
            "backup_dir": self.backup_dir,
            "error": self.error,
            "steps": self.steps,
            "preexisting": self.preexisting,
        }


class StepLog:
    """The steps of one host's apply, timed, for the results document."""

    def __init__(self):
        self.steps: list[dict] = []
        self._started = time.monotonic()

    def add(self, step: str, ok: bool, detail: str = "") -> None:
        now = time.monotonic()
        self.steps.append({"step": step, "ok": ok, "detail": detail, "seconds": round(now - self._started, 3)})
        self._started = now


def apply_connect_options(options: ConnectOptions, restart_timeout: int) -> ConnectOptions:
    """The connection settings of an apply or rollback: the host's deadline leaves room for a commit and a
    restore that each wait their whole restart timeout, two gathers and a container start besides."""
    needed = 2 * (4 * restart_timeout + 60) + 3 * options.limits.command_timeout
    if options.limits.host_timeout >= needed:
        return options
    return replace(options, limits=replace(options.limits, host_timeout=needed))


def controller_identity() -> str:
    """Who runs this: user@host, pid and its start time, and which machine and boot, so `invoke unlock` can tell
    the run died (and never takes a namesake machine's live run for a dead one of its own)."""
    machine, boot = machine_ids()
    return (
        f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} start {start_time(os.getpid())} "
        f"machine {machine} boot-id {boot}"
    )


def script_actions(plan: Plan) -> str:
    """The plan's actions in the script's words; a reload right before a restart is the live-restore one."""
    words = []
    kinds = plan.action_kinds()
    for i, action in enumerate(plan.actions):
        if action.kind == "restart-docker":
            units = [u for u in action.units if u in UNITS] or ["docker.service"]
            words.append("restart-docker:" + "+".join(units))
        elif action.kind == "reload-docker" and "restart-docker" in kinds[i + 1 :]:
            words.append("reload-live-restore")
        elif action.kind == "add-remap-user":
            words.append("add-remap-user:" + action.units[0])
        elif action.kind == "save-images":
            words.append("save-images:" + "+".join(action.images))
        else:
            words.append(action.kind)
    return ",".join(words)


def docker_before(state: str) -> str:
    """What a restore brings dockerd back to: active (restart and wait), failed (restart, it fails again
    as it did), or inactive (stopped)."""
    return state if state in ("active", "failed") else "inactive"


def manifest(run_id: str, host: str, entries: list[Entry], plan: Plan, was: str) -> bytes:
    doc = {
        "format": MANIFEST_FORMAT,
        "run_id": run_id,
        "host": host,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "controller": controller_identity(),
        "docker_before": was,
        "actions": script_actions(plan),
        "entries": [e.to_json() for e in entries],
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _state(reply: Reply) -> str | None:
    line = reply.first("state")
    return line.detail if line else None


def locked_message(reply: Reply) -> str:
    line = reply.first("locked")
    holder = line.detail if line else "another run"
    return f"another harden holds this host's lock ({holder}); if that run is dead, clear it with invoke unlock"


def start_container(conn: Connection, image: str, *, become: bool) -> tuple[bool, str]:
    """Start and remove a container from a local image (never pulled); no image -> not verified, said so."""
    result = conn.run_script(
        'docker image inspect -- "$1" >/dev/null 2>&1 || { echo "no local image $1"; exit 3; }\n'
        'timeout 60 docker run --rm --pull never --network none -- "$1" true 2>&1',
        args=[image],
        become=become,
        timeout=90,
    )
    if result.rc == 3:
        return True, f"not verified: {result.text().strip()}"
    if result.rc != 0:
        return False, f"a container from {image} does not start: {result.text().strip()[-300:]}"
    return True, f"a container from {image} started and exited 0"


def apply_host(
    conn: Connection,
    facts: HostFacts,
    plan: Plan,
    policy: Policy,
    *,
    run_id: str,
    become: bool,
    options: ApplyOptions = ApplyOptions(),
    groups: tuple[str, ...] = (),
    regather: Callable[[Connection], HostFacts] | None = None,
) -> ApplyResult:
    """Make the host match the plan, verified, or leave it exactly as it was."""
    if plan.refused:
        return ApplyResult(REFUSED, error=plan.refused)
    if plan.empty:
        return ApplyResult(HELD_BACK if plan.held_back else UNCHANGED)
    log = StepLog()
    tx = Transaction(conn, run_id, become=become)
    entries = entries_for(plan.changes)
    was = docker_before(HostView(facts, policy, groups).docker_state)

    reply = tx.call("lock", f"run {run_id} by {controller_identity()}")
    if reply.rc == LOCKED:
        return ApplyResult(REFUSED, run_id, None, locked_message(reply), log.steps)
    if not reply.ok:
        return ApplyResult(FAILED, run_id, None, f"cannot take the lock: {reply.error()}", log.steps)
    log.add("lock", True, "acquired")
    result = ApplyResult(FAILED, run_id, error="interrupted")
    try:
        result = _prepare_commit_verify(
            tx,
            conn,
            facts,
            plan,
            policy,
            entries,
            was,
            log,
            options,
            groups,
            regather or (lambda c: gather(c, become=become, extra_paths=tuple(ch.path for ch in plan.changes))),
        )
        return result
    finally:
        facts.forget_derived()  # the simulation validation made: the facts stay with the run's results
        if not result.lock_kept:
            finish_run(tx, log, options, "verified" if result.outcome == CHANGED else result.outcome)


def finish_run(tx: Transaction, log: StepLog, options: ApplyOptions, state: str) -> None:
    try:
        reply = tx.call("finish", state, str(options.keep_runs))
        log.add("unlock", reply.ok, reply.error() if not reply.ok else "released")
    except RemediateError as exc:
        log.add("unlock", False, f"the lock could not be released: {exc}")


def _prepare_commit_verify(tx, conn, facts, plan, policy, entries, was, log, options, groups, regather) -> ApplyResult:
    run_id = tx.run_id
    writes = [e.content or b"" for e in entries if e.op == "write"]
    body = manifest(run_id, facts.host, entries, plan, was)
    spec = validation_spec(facts, plan)
    try:
        if not spec.empty:
            reply = tx.call("validate", *spec.args(), stdin=spec.stdin(), timeout=120)
            log.add("validate", reply.ok, reply.error() if not reply.ok else "host checks passed")
            if not reply.ok:
                return ApplyResult(
                    FAILED, run_id, None, "validation failed, nothing changed: " + reply.error(), log.steps
                )
        reply = tx.call("prepare", str(len(body)), *entry_words(entries), stdin=body + b"".join(writes), timeout=120)
    except (ConnectionFailed, CommandTimeout) as exc:
        # The host may still finish preparing on its own (staged temp files, its lock): unlock cleans up after it.
        log.add("prepare", False, str(exc))
        return ApplyResult(
            FAILED,
            run_id,
            None,
            f"the connection was lost before the commit, nothing changed ({exc}); the host keeps "
            "this run's lock, and any files it staged, until `invoke unlock` clears them",
            log.steps,
            lock_kept=True,
        )
    log.add("prepare", reply.ok, reply.error() if not reply.ok else "compare-and-swap ok, backups taken, files staged")
    if not reply.ok:
        stale = any(f.step == "cas" for f in reply.failures())
        return ApplyResult(
            REFUSED if stale else FAILED,
            run_id,
            None,
            ("stale plan, nothing changed: " if stale else "nothing changed: ") + reply.error(),
            log.steps,
        )
    backups = f"{BASE}/runs/{run_id}"
    baseline = None
    if options.verify_image:  # how the host starts a container now, to compare with after the change
        ok, detail = start_container(conn, options.verify_image, become=tx.become)
        log.add("baseline", ok, detail)
        baseline = None if ok else detail
    try:
        reply = tx.call(
            "commit",
            str(options.restart_timeout),
            script_actions(plan),
            was,
            *entry_words(entries),
            timeout=4 * options.restart_timeout + 60,
        )
    except RemediateError as exc:
        log.add("commit", False, str(exc))
        return ApplyResult(
            FAILED,
            run_id,
            backups,
            f"the connection was lost during the commit ({exc}); the host finishes it, or rolls it "
            f"back, on its own: see {BASE}/runs/{run_id}/state there; its lock stays until "
            "`invoke unlock`",
            log.steps,
            lock_kept=True,
        )
    state = _state(reply)
    if not reply.ok and state is None and not any(line.step == "rollback" for line in reply.lines):
        log.add("commit", False, reply.error())
        aborted = tx.call("abort", *entry_words(entries))
        log.add("abort", aborted.ok, aborted.error() if not aborted.ok else "staged files removed")
        return ApplyResult(
            FAILED, run_id, None, "the commit did not start, nothing changed: " + reply.error(), log.steps
        )
    if not reply.ok:
        log.add("commit", False, reply.error())
        if state == "rolled-back":
            return ApplyResult(ROLLED_BACK, run_id, backups, reply.error(), log.steps)
        return ApplyResult(
            FAILED, run_id, backups, "ROLLBACK FAILED, the host needs attention: " + reply.error(), log.steps
        )
    log.add(
        "commit",
        True,
        ", ".join(
            f"{line.step} {line.detail}".strip() for line in reply.lines if line.kind == "ok" and line.step == "action"
        )
        or "files in place",
    )
    problems, preexisting = _verify(conn, facts, plan, policy, groups, regather, options, tx.become, log, baseline)
    if not problems:
        return ApplyResult(CHANGED, run_id, backups, None, log.steps, preexisting=preexisting)
    reply = tx.call(
        "restore",
        str(options.restart_timeout),
        was,
        "rolled-back",
        run_id,
        *entry_words(entries, restore=True),
        timeout=4 * options.restart_timeout + 60,
    )
    log.add("rollback", reply.ok, reply.error() if not reply.ok else "backups restored, dockerd back as it was")
    error = "verification failed: " + "; ".join(problems)
    if reply.ok:
        return ApplyResult(ROLLED_BACK, run_id, backups, error, log.steps)
    return ApplyResult(FAILED, run_id, backups, f"{error}; ROLLBACK FAILED: {reply.error()}", log.steps)


def _verify(
    conn, facts, plan, policy, groups, regather, options, become, log, baseline: str | None
) -> tuple[list[str], str | None]:
    """What the change broke, and a failure the host already had before it (baseline: the container start
    that failed before the commit, or None)."""
    try:
        after = regather(conn)
    except RemediateError as exc:
        log.add("verify", False, f"facts could not be gathered: {exc}")
        return [f"facts could not be gathered after the change: {exc}"], None
    problems = verify_applied(facts, after, plan, policy, groups)
    preexisting = None
    if not problems and options.verify_image:
        ok, detail = start_container(conn, options.verify_image, become=become)
        log.add("container", ok, detail)
        if not ok and baseline is not None:
            preexisting = (
                f"containers could not start before this change either, so it was kept: before: "
                f"{baseline}; after: {detail}"
            )
        elif not ok:
            problems.append(detail)
    log.add(
        "verify",
        not problems,
        "; ".join(problems)
        or "the host matches the plan" + (" (a failure it had before remains)" if preexisting else ""),
    )
    return problems, preexisting
