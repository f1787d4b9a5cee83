"""Undo a harden run from its backups (invoke rollback), and inspect or clear a host's lock (invoke unlock).

A rollback is itself a run: it takes the lock, checks that every file the
old run touched still holds what that run wrote (so a later hand edit is
never overwritten silently; --force skips this), restores the backups with
the same atomic writes, reloads systemd, brings dockerd back as it was before
the old run, and records the old run as rolled back.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass

from remediate.apply.engine import (
    FAILED,
    REFUSED,
    ROLLED_BACK,
    UNCHANGED,
    ApplyOptions,
    ApplyResult,
    StepLog,
    controller_identity,
    finish_run,
    locked_message,
)
from remediate.apply.protocol import BASE, LOCKED, Entry, Transaction, entry_words
from remediate.connection.base import Connection
from remediate.errors import CommandFailed
from remediate.process import machine_ids, start_time

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
ROLLBACKABLE = ("verified", "applied")  # states of runs whose changes are live on the host
# States a run's directory holds once its controller is done with it; "applied" is not one: the
# controller may be verifying right now.
MANIFEST_MAX = 4 * 1024 * 1024  # bytes; transaction.sh's MANIFEST_MAX
ENDED = ("verified", "rolled-back", "rollback-failed", "failed", "refused")
UNCOMMITTED = ("preparing", "prepared")  # states of runs that may have staged temp files but changed nothing
# The controller in a lock's owner line (engine.controller_identity): "by USER@HOST pid N start T".
CONTROLLER = re.compile(
    r" by \S+@(?P<host>\S+) pid (?P<pid>\d+)(?: start (?P<start>\d+))?"
    r"(?: machine (?P<machine>\S+) boot-id (?P<boot>\S+))?"
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    state: str


def list_runs(tx: Transaction) -> list[RunRecord]:
    reply = tx.checked("runs")
    return [RunRecord(line.step, line.detail) for line in reply.lines if line.kind == "run"]


def read_manifest(conn: Connection, run_id: str, *, become: bool) -> dict:
    """The run's manifest as the host keeps it; at most MANIFEST_MAX bytes of JSON (the host enforces it too),
    so a host cannot make the controller parse an unbounded document."""
    result = Transaction(conn, run_id, become=become).raw("manifest")
    if not result.ok:
        raise CommandFailed(f"no manifest for run {run_id}: {result.text().strip()[:500]}", rc=result.rc)
    if len(result.stdout) > MANIFEST_MAX:
        raise CommandFailed(f"the manifest of run {run_id} is over {MANIFEST_MAX} bytes: not read")
    try:
        doc = json.loads(result.stdout)
    except ValueError as exc:
        raise CommandFailed(f"the manifest of run {run_id} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise CommandFailed(f"the manifest of run {run_id} has no list of entries")
    return doc


def manifest_entries(doc: dict, run_id: str) -> list[Entry]:
    try:
        return [Entry.from_json(e) for e in doc["entries"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CommandFailed(
            f"the manifest of run {run_id} has a malformed entry ({type(exc).__name__}: {exc})"
        ) from None


def rollback_host(
    conn: Connection,
    run_id: str,
    *,
    from_run: str | None,
    become: bool,
    force: bool = False,
    options: ApplyOptions = ApplyOptions(),
) -> ApplyResult:
    """Restore the backups of `from_run` (default: the newest run whose changes are live)."""
    if from_run is not None and not RUN_ID.fullmatch(from_run):
        raise ValueError(f"--run {from_run!r} is not a run id (like 20261128T153055Z-3d51e6)")
    log = StepLog()
    tx = Transaction(conn, run_id, become=become)
    runs = list_runs(tx)
    if from_run is None:
        live = [r for r in runs if r.state in ROLLBACKABLE]
        if not live:
            log.add("runs", True, "no run with live changes on this host: nothing to undo")
            return ApplyResult(UNCHANGED, run_id, None, None, log.steps)
        target = live[0]
    else:
        named = next((r for r in runs if r.run_id == from_run), None)
        if named is None:
            return ApplyResult(
                REFUSED,
                run_id,
                None,
                f"no run {from_run} on this host (runs: " + (", ".join(r.run_id for r in runs) or "none") + ")",
                log.steps,
            )
        target = named
        if target.state not in ROLLBACKABLE:
            return ApplyResult(
                REFUSED, run_id, None, f"run {from_run} is {target.state}: its changes are not live", log.steps
            )
    doc = read_manifest(conn, target.run_id, become=become)
    entries = manifest_entries(doc, target.run_id)
    log.add("manifest", True, f"run {target.run_id}: {len(entries)} change(s)")
    reply = tx.call("lock", f"rollback {run_id} of {target.run_id} by {controller_identity()}")
    if reply.rc == LOCKED:
        return ApplyResult(REFUSED, run_id, None, locked_message(reply), log.steps)
    if not reply.ok:
        return ApplyResult(FAILED, run_id, None, f"cannot take the lock: {reply.error()}", log.steps)
    outcome = FAILED
    try:
        if not force:
            reply = tx.call("check", *entry_words([e.expected_now() for e in entries], restore=True))
            log.add("check", reply.ok, reply.error() if not reply.ok else "files as the run left them")
            if not reply.ok:
                outcome = REFUSED
                return ApplyResult(
                    REFUSED,
                    run_id,
                    None,
                    "files changed since run " + target.run_id + " (use --force to restore anyway): " + reply.error(),
                    log.steps,
                )
        reply = tx.call(
            "restore",
            str(options.restart_timeout),
            doc.get("docker_before", "active"),
            "rolled-back",
            target.run_id,
            *entry_words(entries, restore=True),
            timeout=4 * options.restart_timeout + 60,
        )
        log.add("restore", reply.ok, reply.error() if not reply.ok else f"backups of {target.run_id} restored")
        if not reply.ok:
            return ApplyResult(FAILED, run_id, f"{BASE}/runs/{target.run_id}", reply.error(), log.steps)
        outcome = ROLLED_BACK
        return ApplyResult(ROLLED_BACK, run_id, f"{BASE}/runs/{target.run_id}", None, log.steps)
    finally:
        finish_run(tx, log, options, outcome)


def controller_gone(holder: str) -> bool:
    """The lock's controller ran on this machine and its process is gone (no such pid, or one started later),
    or this machine rebooted since. Another machine with the same hostname is never judged from here."""
    match = CONTROLLER.search(holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    if match["machine"] is not None:
        machine, boot = machine_ids()
        if "unknown" in (machine, match["machine"]) or match["machine"] != machine:
            return False
        if match["boot"] != boot:
            return True
    now = start_time(int(match["pid"]))
    return now is None or (match["start"] is not None and now != int(match["start"]))


@dataclass
class LockState:
    locked: bool
    holder_run: str | None
    holder: str
    boot_matches: bool
    run_state: str | None
    busy: str | None = None  # pid of the holder's prepare/commit/restore still running on the host

    @property
    def stale(self) -> bool:
        """Safe to clear: the host rebooted since; or nothing of the run still runs on the host and the run
        reached an end state or its controller (a process on this machine) is gone."""
        if not self.locked:
            return False
        return not self.boot_matches or (
            self.busy is None and (self.run_state in ENDED or controller_gone(self.holder))
        )

    def why_stale(self) -> str:
        if not self.boot_matches:
            return "the host rebooted since"
        if self.run_state in ENDED:
            return f"its run is {self.run_state}"
        return "its controller process on this machine is gone"

    def why_alive(self) -> str:
        if self.busy:
            return f"its run is {self.run_state or 'in progress'} and still running on the host (pid {self.busy})"
        return (
            f"its run is {self.run_state or 'in progress'}, the host has not rebooted since and its controller "
            "is not a process of this machine that ended, so it may still be running"
        )


def lock_state(conn: Connection, *, become: bool) -> LockState:
    reply = Transaction(conn, "inspect", become=become).checked("lock-info")
    locked = reply.first("locked")
    boot = reply.first("bootid")
    state = reply.first("state")
    busy = reply.first("busy")
    if locked is None:
        return LockState(False, None, "", True, None)
    holder_run, _, holder = locked.detail.partition(" ")
    lock_boot = holder.rsplit("boot=", 1)[-1].split()[0] if "boot=" in holder else ""
    return LockState(
        True,
        holder_run,
        holder,
        lock_boot == (boot.detail if boot else ""),
        state.detail if state else None,
        busy.detail if busy else None,
    )


def clear_lock(conn: Connection, *, become: bool, force: bool = False) -> tuple[bool, str]:
    """Clear a stale lock (or any lock with force), removing what a run that never committed staged; says why
    when it refuses."""
    state = lock_state(conn, become=become)
    if not state.locked:
        return True, "not locked"
    if not (state.stale or force):
        return False, f"locked by {state.holder}; {state.why_alive()} (use --force if you know it is dead)"
    cleaned = ""
    if state.run_state in UNCOMMITTED and state.holder_run and not state.busy:
        cleaned = "; " + abort_staged(conn, state.holder_run, become=become)
    reply = Transaction(conn, state.holder_run or "", become=become).call("break-lock", state.holder_run or "")
    if not reply.ok:
        return False, reply.error() + cleaned
    why = state.why_stale() if state.stale else "forced"
    return True, f"cleared the lock of run {state.holder_run} ({state.holder}): {why}{cleaned}"


def abort_staged(conn: Connection, run_id: str, *, become: bool) -> str:
    """Remove the temp files a run staged but never committed (its manifest names them) and its run record."""
    try:
        entries = manifest_entries(read_manifest(conn, run_id, become=become), run_id)
    except (CommandFailed, ValueError, KeyError) as exc:
        return f"its staged files could not be listed ({exc}): look for .NAME.remediate-* files"
    reply = Transaction(conn, run_id, become=become).call("abort", *entry_words(entries, restore=True))
    if not reply.ok:
        return f"its staged files were not removed: {reply.error()}"
    removed = [line.detail for line in reply.lines if line.kind == "ok" and line.step == "unstaged"]
    return (
        f"run {run_id} was never committed: removed its staged files {', '.join(removed)}"
        if removed
        else f"run {run_id} was never committed and had no staged files left"
    )
