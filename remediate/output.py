"""Terminal output: the only place that turns results into text for a person."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


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
