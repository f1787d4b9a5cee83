"""Host-level practices the CIS benchmark does not number."""

from __future__ import annotations

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts import parse

SUBID_FILES = ("/etc/subuid", "/etc/subgid")


@predicate("REM-CONTENT-TRUST")
def content_trust(ctx: CheckContext) -> Outcome:
    lines = [line for line in ctx.facts.command("content_trust").stdout.splitlines() if line.strip()]
    # grep -H lines: "path:content"; a commented-out line enables nothing
    active = [line for line in lines if not line.partition(":")[2].lstrip().startswith("#")]
    enabled = [line for line in active if "DOCKER_CONTENT_TRUST=1" in line.replace('"', "").replace("'", "")]
    return Outcome.of(bool(enabled), *(enabled or lines or ["DOCKER_CONTENT_TRUST is not set system-wide"]))


@predicate("REM-RUNTIME-MONITOR")
def runtime_monitor(ctx: CheckContext) -> Outcome:
    states = ctx.facts.command("falco").stdout.split()
    return Outcome.of("active" in states, "Falco is active" if "active" in states else "no Falco service is active")


@predicate("REM-MAC")
def mandatory_access_control(ctx: CheckContext) -> Outcome:
    apparmor = ctx.facts.command("apparmor").stdout.strip() == "Y"
    selinux = ctx.facts.command("selinux").stdout.strip()
    return Outcome.of(apparmor or selinux == "Enforcing",
                      f"AppArmor: {'enabled' if apparmor else 'not enabled'}; SELinux: {selinux or 'not installed'}")


@predicate("REM-IP-FORWARD")
def ip_forward(ctx: CheckContext) -> Outcome:
    value = ctx.facts.command("ip_forward").stdout.strip()
    if not value:
        return Outcome.na("sysctl net.ipv4.ip_forward could not be read")
    return Outcome.of(value == "1", f"net.ipv4.ip_forward = {value}")


def overlapping_ranges(text: str) -> list[str]:
    """Each pair of different users whose subordinate ranges share ids, as 'a START-END and b START-END'."""
    spans = sorted((start, start + count, name) for name, ranges in parse.id_ranges(text).items()
                   for start, count in ranges if count > 0)
    found = []
    for i, (start, end, name) in enumerate(spans):
        for other_start, other_end, other in spans[i + 1:]:
            if other_start >= end:
                break
            if other != name:
                found.append(f"{name} {start}-{end - 1} and {other} {other_start}-{other_end - 1}")
    return found


@predicate("REM-SUBID-OVERLAP")
def subid_overlap(ctx: CheckContext) -> Outcome:
    files = [ctx.facts.file(path) for path in SUBID_FILES]
    present = [f for f in files if f.exists and f.content is not None]
    if not present:
        return Outcome.na("neither /etc/subuid nor /etc/subgid exists")
    overlaps = [f"{f.path}: {pair}" for f in present for pair in overlapping_ranges(f.text() or "")]
    if overlaps:
        return Outcome.failed(*overlaps)
    return Outcome.passed(*(f"{f.path}: {len(parse.id_ranges(f.text() or ''))} user(s), no shared ids" for f in present))
