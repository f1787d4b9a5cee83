"""Terminal output: the only place that turns results into text for a person."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
_CODES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}


def color(text: str, name: str) -> str:
    return f"\033[{_CODES[name]}m{text}\033[0m" if _COLOR else text


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def lab_status(rows, inventory: Path) -> None:
    if not rows:
        print("the lab is not running (invoke lab.up)")
        return
    body = [
        [r.name, r.scenario, str(r.port), color("up", "green") if r.alive else color("down", "red"), r.docker]
        for r in rows
    ]
    print(table(["host", "scenario", "ssh port", "host", "dockerd"], body))
    print(f"\ninventory: {inventory}")


class Progress:
    """One line per finished host on stderr, so a long fleet run shows it is alive."""

    def __init__(self, total: int, verb: str):
        self.total = total
        self.verb = verb
        info(f"{verb} on {total} host(s)…")

    def update(self, done: int, total: int, outcome) -> None:
        mark = {"ok": color("ok", "green"), "unreachable": color("UNREACHABLE", "red")}.get(
            outcome.status, color("FAILED", "red"))
        detail = f": {outcome.error}" if outcome.error else ""
        info(f"  [{done}/{total}] {outcome.host} {mark} ({outcome.seconds:.1f}s){detail}")

    def finish(self) -> None:
        pass


def facts_summary(outcomes) -> None:
    """A row per host: what Docker looks like there, at a glance."""
    from remediate.facts.summary import summarize

    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", "-", (o.error or "")[:60]])
            continue
        s = summarize(o.value)
        rows.append([o.host, s.docker_state, s.version or "-", s.daemon_json, s.tcp or "-",
                     str(s.containers), ""])
    print(table(["host", "dockerd", "version", "daemon.json", "tcp listeners", "containers", "error"], rows))


_STATUS_COLOR = {"pass": "green", "fail": "red", "error": "red", "warn": "yellow", "waived": "dim",
                 "info": "dim", "not-applicable": "dim"}


def audit_report(outcomes, *, fail_on: str, show_passed: bool = False) -> None:
    """Per host: what is wrong and the evidence; then the fleet recap."""
    shown = {"fail", "warn", "error", "waived"} | ({"pass", "info", "not-applicable"} if show_passed else set())
    for o in outcomes:
        print()
        if not o.ok:
            print(color(f"== {o.host}: {o.status.upper()}", "red") + f"  {o.error}")
            continue
        audit = o.value
        print(color(f"== {o.host}", "bold") + f"  policy {audit.policy.name}, score {audit.score()}%")
        for r in audit.results:
            if r.status not in shown:
                continue
            label = color(f"{r.status.upper():6}", _STATUS_COLOR[r.status])
            print(f"  {label} {r.check.id:<20} {r.check.severity:<8} {r.check.title}")
            for line in r.evidence[:6]:
                print(f"         {color(line, 'dim')}")
            if r.waiver:
                print(f"         waived: {r.waiver['reason']} (until {r.waiver['expires']})")
    recap(outcomes, fail_on)


def recap(outcomes, fail_on: str) -> None:
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", "-", "-", "-"])
            continue
        c = o.value.counts()
        failing = len(o.value.failing(fail_on))
        rows.append([o.host, f"{o.value.score()}%", str(c["pass"]), color(str(c["fail"]), "red") if c["fail"] else "0",
                     str(failing), str(c["warn"]), str(c["waived"]), str(c["error"])])
    print()
    print(table(["host", "score", "pass", "fail", f"fail≥{fail_on}", "warn", "waived", "error"], rows))


_DIFF_COLORS = (("+++", "bold"), ("---", "bold"), ("diff --git", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def colored_diff(text: str) -> str:
    out = []
    for line in text.splitlines():
        name = next((c for prefix, c in _DIFF_COLORS if line.startswith(prefix)), None)
        out.append(color(line, name) if name else line)
    return "\n".join(out)


def plan_report(outcomes, *, show_diffs: bool = True) -> None:
    """Per host: every pending change with its diff, the service actions, impacts, held-back risks."""
    for o in outcomes:
        print()
        if not o.ok:
            print(color(f"== {o.host}: {o.status.upper()}", "red") + f"  {o.error}")
            continue
        plan, validation = o.value.plan, o.value.validation
        if plan.refused:
            print(color(f"== {o.host}: REFUSED", "red") + f"  {plan.refused}")
            continue
        summary = "no changes" if plan.empty else f"{len(plan.changes)} file change(s), fixes {', '.join(plan.fixes()) or '-'}"
        print(color(f"== {o.host}", "bold") + f"  {summary}")
        if o.value.lock:
            print(f"  {color('locked', 'yellow')} {LOCK_NOTE.format(holder=o.value.lock)}")
        for change in plan.changes:
            print(f"  {color(change.path, 'bold')}: {change.reason}" + (f"  [fixes {', '.join(change.fixes)}]" if change.fixes else ""))
            if show_diffs:
                print("    " + colored_diff(change.diff).replace("\n", "\n    "))
        for action in plan.actions:
            print(f"  {color('action', 'yellow')} {action.kind} {' '.join(action.units)}: {action.reason}")
        held_reasons = {h.reason for h in plan.held_back}
        for impact in plan.impacts:
            if impact.message in held_reasons:
                continue
            print(f"  {color('impact', 'red' if impact.severity == 'high' else 'yellow')} {impact.message}")
        for held in plan.held_back:
            print(f"  {color('held back', 'yellow')} {held.what}: {held.reason}; to accept: {held.how_to_accept}")
        for note in plan.notes:
            print(f"  {color('note', 'dim')} {note}")
        if plan.still_failing:
            print(f"  {color('still failing after this plan', 'dim')}: {', '.join(plan.still_failing)}")
        for step in validation.steps:
            if not step["ok"]:
                print(f"  {color('INVALID', 'red')} {step['name']}: {step['detail']}")


LOCK_NOTE = "by {holder}: apply refuses this host while that run holds it; if it died, `invoke unlock` clears it"
_OUTCOME_COLORS = {"changed": "green", "unchanged": "dim", "held-back": "yellow", "refused": "red",
                   "failed": "red", "rolled-back": "red", "skipped": "yellow"}


def harden_recap(outcomes, *, dry_run: bool, stopped_by: str | None = None) -> None:
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", (o.error or "")[:70]])
            continue
        value = o.value
        plan = value.plan
        if dry_run or value.apply is None:
            state = ("refused" if plan.refused else "invalid" if not value.validation.ok
                     else "pending" if not plan.empty else "held-back" if plan.held_back else "unchanged")
            detail = plan.refused or "; ".join(value.validation.errors()) or (
                "locked " + LOCK_NOTE.format(holder=value.lock) if value.lock else "")
        else:
            state, detail = value.apply.outcome, value.apply.error or ""
        label = color(state, _OUTCOME_COLORS.get(state, "yellow" if state == "pending" else "red"))
        rows.append([o.host, label, str(len(plan.changes)), ", ".join(h.what for h in plan.held_back) or "-",
                     f"{o.round_trips}", detail[:90]])
    print()
    print(table(["host", "dry-run" if dry_run else "outcome", "changes", "held back", "round trips", "detail"], rows))
    if stopped_by:
        info(color(stopped_by, "red"))


def apply_recap(outcomes) -> None:
    """A row per host of a rollback: outcome, the run it restored, the host's own error line."""
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", (o.error or "")[:90]])
            continue
        result = o.value
        rows.append([o.host, color(result.outcome, _OUTCOME_COLORS.get(result.outcome, "red")),
                     result.backup_dir or "-", (result.error or "")[:90]])
    print()
    print(table(["host", "outcome", "backups", "detail"], rows))
