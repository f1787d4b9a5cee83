"""Host-level practices the CIS benchmark does not number."""

from __future__ import annotations

import posixpath

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts import parse

SUBID_FILES = ("/etc/subuid", "/etc/subgid")


# strconv.ParseBool's false spellings: the docker CLI treats every other non-empty value as true.
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
NOTARY_RETIRED = (
    "Docker Content Trust is retired: the Notary v1 service at notary.docker.io shuts down on "
    "2026-12-08 and the docker CLI dropped content trust in 29.0"
)
TRUST_BREAKS = (
    "with it set, an older docker CLI asks notary.docker.io for signatures: once Notary v1 is gone every "
    "`docker pull`, `docker push`, `docker run` and `docker build` of a Docker Hub image fails, and "
    "`docker trust` stops working"
)
TRUST_INSTEAD = (
    "unset it, and pin images by digest (image@sha256:...) and verify signed attestations "
    "(cosign, Docker's image attestations) instead"
)


@predicate("REM-CONTENT-TRUST")
def content_trust(ctx: CheckContext) -> Outcome:
    settings = ctx.parsed.content_trust
    enabled = [s.line for s in settings if s.value and s.value not in _FALSE]
    if enabled:
        return Outcome.failed(*enabled, NOTARY_RETIRED, TRUST_BREAKS, TRUST_INSTEAD)
    if settings:
        return Outcome.passed(*(f"{s.line} (set to a false value: content trust stays off)" for s in settings))
    return Outcome.passed(
        "DOCKER_CONTENT_TRUST is not set system-wide (/etc/environment, /etc/profile, /etc/profile.d, /etc/bash.bashrc)"
    )


@predicate("4.5")
def content_trust_retired(ctx: CheckContext) -> Outcome:
    return Outcome.info(
        f"retired: {NOTARY_RETIRED}; remediate does not recommend enabling it (REM-CONTENT-TRUST "
        "warns where it is still set)",
        TRUST_INSTEAD.replace("unset it, and pin", "pin"),
    )


# Runtime monitors that also run as containers: the monitor's own images (not a forwarder such as falcosidekick,
# nor an operator) or an entrypoint with the monitor's name.
MONITORS = ("falco", "tetragon")
MONITOR_IMAGES = {"falco": "falco", "falco-no-driver": "falco", "falco-distroless": "falco", "tetragon": "tetragon"}


@predicate("REM-RUNTIME-MONITOR")
def runtime_monitor(ctx: CheckContext) -> Outcome:
    states = ctx.parsed.falco
    if "active" in states:
        return Outcome.passed("Falco is active (systemd unit)")
    running = [c for c in ctx.running_containers if _monitor(c)]
    if running:
        return Outcome.passed(
            *(
                f"container {str(c.get('Name', '?')).lstrip('/')} runs {_monitor(c)} (image {c.get('Image')})"
                for c in running
            )
        )
    seen = "no Falco service is active"
    if not ctx.containers_known:
        return Outcome.failed(seen, "containers could not be listed: a monitor running as a container is not seen")
    return Outcome.failed(seen, f"no running container runs {' or '.join(MONITORS)}")


def _monitor(container: dict) -> str | None:
    image = str(container.get("Image") or "").lower()
    command = posixpath.basename(str(container.get("Path") or ""))
    image_name = image.partition("@")[0].rpartition("/")[2].partition(":")[0]
    return MONITOR_IMAGES.get(image_name) or next((m for m in MONITORS if command == m), None)


@predicate("REM-MAC")
def mandatory_access_control(ctx: CheckContext) -> Outcome:
    apparmor, selinux = ctx.parsed.apparmor, ctx.parsed.selinux
    return Outcome.of(
        apparmor or selinux == "Enforcing",
        f"AppArmor: {'enabled' if apparmor else 'not enabled'}; SELinux: {selinux or 'not installed'}",
    )


@predicate("REM-IP-FORWARD")
def ip_forward(ctx: CheckContext) -> Outcome:
    value = ctx.parsed.ip_forward
    if not value:
        return Outcome.na("sysctl net.ipv4.ip_forward could not be read")
    if value == "1":
        return Outcome.passed("net.ipv4.ip_forward = 1")
    return Outcome.failed(
        f"net.ipv4.ip_forward = {value}: containers on bridge networks get no traffic routed "
        "through the host (dockerd sets 1 at start unless ip-forward is false; something reset it)"
    )


def overlapping_ranges(text: str) -> list[str]:
    """Each pair of different users whose subordinate ranges share ids, as 'a START-END and b START-END'."""
    spans = sorted(
        (start, start + count, name)
        for name, ranges in parse.id_ranges(text).items()
        for start, count in ranges
        if count > 0
    )
    found = []
    for i, (start, end, name) in enumerate(spans):
        for other_start, other_end, other in spans[i + 1 :]:
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
    return Outcome.passed(
        *(f"{f.path}: {len(parse.id_ranges(f.text() or ''))} user(s), no shared ids" for f in present)
    )
