"""Host-level practices the CIS benchmark does not number."""

from __future__ import annotations

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate


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
