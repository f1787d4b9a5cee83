"""Terminal output: the only place that turns results into text for a person.

What a host says (error text with its SSH banner, evidence, diffs, lock owners) is data, and reaches the
terminal only through shown(): its control characters escaped by remediate.neutralise.terminal, so a host
can neither move the cursor, retitle the terminal nor start a line of its own. Text built here is a
Shown: color(), table() and line() neutralise every value they are given and keep only their own colour
codes and newlines. _out() shows any other str with every control escaped; info() and ours() show a
message of our own (other modules' notices, tasks' errors) with its newlines kept, every other control escaped.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from remediate import neutralise
from remediate.audit import NOTEWORTHY

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
_CODES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}
_SGR = re.compile("\033\\[[0-9;]*m")  # in a Shown only ours: a host's ESC is shown as \x1b


class Shown(str):
    """Text fit for the terminal as it is: the values in it went through shown(), its controls are ours."""

    __slots__ = ()


def shown(value) -> Shown:
    """A value as the terminal may show it: a Shown as it is; anything else with its controls escaped."""
    return value if isinstance(value, Shown) else Shown(neutralise.terminal(value))


def line(template: str, *values, **named) -> Shown:
    """Our template (its layout, newlines and format specs) with every value in it shown(); numbers stay numbers."""

    def fit(value):
        return value if isinstance(value, (int, float)) else shown(value)

    return Shown(template.format(*map(fit, values), **{k: fit(v) for k, v in named.items()}))


def ours(text: str) -> Shown:
    """One of our own messages (a task's error): its newlines kept, every other control character escaped."""
    return text if isinstance(text, Shown) else Shown(neutralise.terminal_lines(text))


def color(text, name: str) -> Shown:
    text = shown(text)
    return Shown(f"\033[{_CODES[name]}m{text}\033[0m") if _COLOR else text


def _out(text="") -> None:
    print(shown(text))


def info(message: str) -> None:
    print(ours(message), file=sys.stderr, flush=True)


class _TerminalLog(logging.Handler):
    """Log records nothing else handles (logging.lastResort), shown on stderr like every other text here:
    paramiko logs a server's banner line as it came ("Exception (client): Indecipherable protocol version")."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def format(self, record: logging.LogRecord) -> str:
        text = neutralise.terminal(record.getMessage())
        if record.exc_info:
            text += "\n" + neutralise.terminal_lines(logging.Formatter().formatException(record.exc_info))
        return text

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


logging.lastResort = _TerminalLog()


def table(headers: list[str], rows: list[list[str]]) -> Shown:
    cells = [[shown(v) for v in row] for row in [headers, *rows]]
    widths = [max(_width(v) for v in col) for col in zip(*cells, strict=True)]
    return Shown(
        "\n".join("  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths, strict=True)) for row in cells)
    )


def _width(text: Shown) -> int:
    """Columns the text takes: our colour codes take none."""
    return len(_SGR.sub("", text))


def lab_status(rows, inventory: Path) -> None:
    if not rows:
        _out("the lab is not running (invoke lab.up)")
        return
    body = [
        [r.name, r.scenario, str(r.port), color("up", "green") if r.alive else color("down", "red"), r.docker]
        for r in rows
    ]
    _out(table(["host", "scenario", "ssh port", "host", "dockerd"], body))
    _out(line("\ninventory: {}", inventory))


class Progress:
    """One line per finished host on stderr, so a long fleet run shows it is alive."""

    def __init__(self, total: int, verb: str):
        self.total = total
        self.verb = verb
        info(line("{} on {} host(s)…", verb, total))

    def update(self, done: int, total: int, outcome) -> None:
        mark = {"ok": color("ok", "green"), "unreachable": color("UNREACHABLE", "red")}.get(
            outcome.status, color("FAILED", "red")
        )
        detail = line(": {}", outcome.error) if outcome.error else ""
        info(line("  [{}/{}] {} {} ({:.1f}s){}", done, total, outcome.host, mark, outcome.seconds, detail))

    def finish(self) -> None:
        pass


def facts_summary(outcomes) -> None:
    """A row per host (its outcome's value a facts.summary.DockerSummary): what Docker looks like there."""
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", "-", (o.error or "")[:60]])
            continue
        s = o.value
        rows.append([o.host, s.docker_state, s.version or "-", s.daemon_json, s.tcp or "-", str(s.containers), ""])
    _out(table(["host", "dockerd", "version", "daemon.json", "tcp listeners", "containers", "error"], rows))


_STATUS_COLOR = {
    "pass": "green",
    "fail": "red",
    "error": "red",
    "warn": "yellow",
    "waived": "dim",
    "info": "dim",
    "not-applicable": "dim",
}


def _unreached(o) -> None:
    """The heading of a host that was not reached (or failed), with its error on the same line."""
    _out(line("{}  {}", color(f"== {o.host}: {o.status.upper()}", "red"), o.error))


def audit_report(outcomes, *, fail_on: str, show_passed: bool = False) -> None:
    """Per host: what is wrong and the evidence; then the fleet recap."""
    shown_statuses = set(NOTEWORTHY) | ({"pass", "info", "not-applicable"} if show_passed else set())
    for o in outcomes:
        _out()
        if not o.ok:
            _unreached(o)
            continue
        audit = o.value
        _out(line("{}  policy {}, score {}%", color(f"== {o.host}", "bold"), audit.policy.name, audit.score()))
        for r in audit.results:
            if r.status not in shown_statuses:
                continue
            label = color(f"{r.status.upper():6}", _STATUS_COLOR[r.status])
            _out(line("  {} {:<20} {:<8} {}", label, r.check.id, r.check.severity, r.check.title))
            for evidence in r.evidence[:6]:
                _out(line("         {}", color(evidence, "dim")))
            if r.waiver:
                _out(line("         waived: {} (until {})", r.waiver["reason"], r.waiver["expires"]))
    recap(outcomes, fail_on)


def recap(outcomes, fail_on: str) -> None:
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", "-", "-", "-"])
            continue
        c = o.value.counts()
        failing = len(o.value.failing(fail_on))
        rows.append(
            [
                o.host,
                f"{o.value.score()}%",
                str(c["pass"]),
                color(str(c["fail"]), "red") if c["fail"] else "0",
                str(failing),
                str(c["warn"]),
                str(c["waived"]),
                str(c["error"]),
            ]
        )
    _out()
    _out(table(["host", "score", "pass", "fail", f"fail≥{fail_on}", "warn", "waived", "error"], rows))


_DIFF_COLORS = (("+++", "bold"), ("---", "bold"), ("diff --git", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def colored_diff(text: str) -> Shown:
    """A diff, a line of ours per line of it: split at newlines only, every other control in it escaped."""
    out = []
    for diff_line in text.removesuffix("\n").split("\n"):
        name = next((c for prefix, c in _DIFF_COLORS if diff_line.startswith(prefix)), None)
        out.append(color(diff_line, name) if name else shown(diff_line))
    return Shown("\n".join(out))


def plan_report(outcomes, *, show_diffs: bool = True) -> None:
    """Per host: every pending change with its diff, the service actions, impacts, held-back risks."""
    for o in outcomes:
        _out()
        if not o.ok:
            _unreached(o)
            continue
        plan, validation = o.value.plan, o.value.validation
        if plan.refused:
            _out(line("{}  {}", color(f"== {o.host}: REFUSED", "red"), plan.refused))
            continue
        summary = (
            "no changes"
            if plan.empty
            else f"{len(plan.changes)} file change(s), fixes {', '.join(plan.fixes()) or '-'}"
        )
        _out(line("{}  {}", color(f"== {o.host}", "bold"), summary))
        if o.value.lock:
            _out(line("  {} " + LOCK_NOTE, color("locked", "yellow"), holder=o.value.lock))
        for change in plan.changes:
            fixes = line("  [fixes {}]", ", ".join(change.fixes)) if change.fixes else ""
            _out(line("  {}: {}{}", color(change.path, "bold"), change.reason, fixes))
            if show_diffs:
                _out(Shown("    " + colored_diff(change.diff).replace("\n", "\n    ")))
        for action in plan.actions:
            _out(line("  {} {} {}: {}", color("action", "yellow"), action.kind, " ".join(action.units), action.reason))
        held_reasons = {h.reason for h in plan.held_back}
        for impact in plan.impacts:
            if impact.message in held_reasons:
                continue
            _out(line("  {} {}", color("impact", "red" if impact.severity == "high" else "yellow"), impact.message))
        for held in plan.held_back:
            _out(
                line(
                    "  {} {}: {}; to accept: {}",
                    color("held back", "yellow"),
                    held.what,
                    held.reason,
                    held.how_to_accept,
                )
            )
        for note in plan.notes:
            _out(line("  {} {}", color("note", "dim"), note))
        if plan.still_failing:
            _out(line("  {}: {}", color("still failing after this plan", "dim"), ", ".join(plan.still_failing)))
        for step in validation.steps:
            if not step["ok"]:
                _out(line("  {} {}: {}", color("INVALID", "red"), step["name"], step["detail"]))
            elif step["name"] == "remediate":  # checked by remediate instead of on the host: say so
                _out(line("  {} validation: {}", color("note", "dim"), step["detail"]))


LOCK_NOTE = "by {holder}: apply refuses this host while that run holds it; if it died, `invoke unlock` clears it"
_OUTCOME_COLORS = {
    "changed": "green",
    "unchanged": "dim",
    "held-back": "yellow",
    "refused": "red",
    "failed": "red",
    "rolled-back": "red",
    "skipped": "yellow",
}


def harden_recap(outcomes, *, dry_run: bool, stopped_by: str | None = None) -> None:
    rows = []
    for o in outcomes:
        if not o.ok:
            rows.append([o.host, color(o.status, "red"), "-", "-", "-", (o.error or "")[:70]])
            continue
        value = o.value
        plan = value.plan
        if dry_run or value.apply is None:
            state = (
                "refused"
                if plan.refused
                else "invalid"
                if not value.validation.ok
                else "pending"
                if not plan.empty
                else "held-back"
                if plan.held_back
                else "unchanged"
            )
            detail = (
                plan.refused
                or "; ".join(value.validation.errors())
                or ("locked " + LOCK_NOTE.format(holder=value.lock) if value.lock else "")
            )
        else:
            state, detail = value.apply.outcome, value.apply.error or ""
            if value.apply.preexisting:
                state, detail = f"{state}, still failing", "pre-existing: " + value.apply.preexisting
        label = color(state, _OUTCOME_COLORS.get(state, "yellow" if state == "pending" else "red"))
        rows.append(
            [
                o.host,
                label,
                str(len(plan.changes)),
                ", ".join(h.what for h in plan.held_back) or "-",
                f"{o.round_trips}",
                detail[:90],
            ]
        )
    _out()
    _out(table(["host", "dry-run" if dry_run else "outcome", "changes", "held back", "round trips", "detail"], rows))
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
        rows.append(
            [
                o.host,
                color(result.outcome, _OUTCOME_COLORS.get(result.outcome, "red")),
                result.backup_dir or "-",
                (result.error or "")[:90],
            ]
        )
    _out()
    _out(table(["host", "outcome", "backups", "detail"], rows))
