"""Section 2 and the daemon practices: judged on the effective configuration.

The effective configuration merges dockerd's defaults, daemon.json, ExecStart,
DOCKER_OPTS/Environment and the socket unit, so a flag set only in a drop-in
or only in DOCKER_OPTS is seen (docker-bench-security reads only the live
command line and greps daemon.json).
"""

from __future__ import annotations

import ipaddress
import posixpath

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.dockerd import hardened
from remediate.dockerd.daemon_json import REVIEW_LIMIT

REMOTE_LOG_DRIVERS = {"syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"}
# A runtime is a sandbox by the binary it runs (its path's basename) or its containerd shim (runtimeType),
# never by the name it is registered under: {"gvisor": {"path": "/usr/bin/runsc"}} is gVisor.
SANDBOX_BINARIES = (
    "runsc",
    "kata-runtime",
    "kata-qemu",
    "kata-fc",
    "kata-clh",
    "containerd-shim-runsc-v1",
    "containerd-shim-kata-v2",
)
SANDBOX_SHIMS = ("io.containerd.runsc.", "io.containerd.kata.", "io.containerd.kata-")
# Checks that need the running daemon's answer (ctx.docker_info) say this when it gave none.
NOT_ANSWERING = "dockerd is not answering: "


def where(ctx: CheckContext, key: str) -> str:
    setting = ctx.setting(key)
    origin = "dockerd default" if setting.origin == "default" else str(setting.source or setting.origin)
    return f"{key} = {_show(setting.value)} ({origin})"


def _show(value) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value or '""'


def _daemon_check(func):
    """Daemon checks cannot conclude on a host without dockerd."""

    def check(ctx: CheckContext) -> Outcome:
        if not ctx.docker_installed:
            return Outcome.na("dockerd is not installed")
        return func(ctx)

    check.__name__ = func.__name__
    return check


def expect(key: str, wanted, *, equal: bool = True):
    def check(ctx: CheckContext) -> Outcome:
        value = ctx.setting(key).value
        return Outcome.of((value == wanted) == equal, where(ctx, key))

    return _daemon_check(check)


# The checks judged by one key alone (icc, iptables, no-new-privileges, userland-proxy, experimental): what they
# expect is the table of hardened keys (remediate/dockerd/data/hardened.yml), where harden's value comes from too.
for _entry in hardened.table().values():
    if _entry.audit in ("equal", "not"):
        _expected = _entry.wanted if _entry.audit == "equal" else _entry.refused
        for _check_id in _entry.checks:
            predicate(_check_id)(expect(_entry.key, _expected, equal=_entry.audit == "equal"))


@predicate("2.15")
@_daemon_check
def live_restore(ctx: CheckContext) -> Outcome:
    """dockerd refuses to start with live-restore on a swarm node: there it cannot be had, and passes (as
    docker-bench-security passes it); 5.1 is where swarm itself is judged."""
    if ctx.parsed.in_swarm:
        return Outcome.passed(
            f"this node is in a swarm (LocalNodeState={ctx.parsed.swarm_state}): "
            "swarm mode and live-restore exclude each other, dockerd refuses to start with both",
            where(ctx, "live-restore"),
        )
    return Outcome.of(ctx.setting("live-restore").value is hardened.wanted("live-restore"), where(ctx, "live-restore"))


@predicate("2.1")
@_daemon_check
def rootless(ctx: CheckContext) -> Outcome:
    if ctx.docker_info is None:
        return Outcome.na(NOT_ANSWERING + "whether it runs rootless is only in docker info's SecurityOptions")
    rootless_mode = any("rootless" in opt for opt in ctx.docker_info.get("SecurityOptions") or [])
    return Outcome.of(rootless_mode, "dockerd runs rootless" if rootless_mode else "dockerd runs as root")


@predicate("2.3")
@_daemon_check
def log_level(ctx: CheckContext) -> Outcome:
    level, debug = ctx.setting("log-level").value or "info", ctx.setting("debug").value
    evidence = [where(ctx, "log-level")]
    if debug:
        evidence.append(where(ctx, "debug") + " — debug overrides log-level")
    # dockerd reads the level case-insensitively (logrus.ParseLevel lowercases it): "INFO" is info
    return Outcome.of(str(level).lower() == hardened.wanted("log-level") and not debug, *evidence)


@predicate("2.5")
@_daemon_check
def insecure_registries(ctx: CheckContext) -> Outcome:
    registries = [r for r in ctx.setting("insecure-registries").value or [] if not is_loopback_registry(str(r))]
    return Outcome.of(not registries, where(ctx, "insecure-registries"))


_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback_registry(name: str) -> bool:
    """True for what dockerd itself always treats as insecure, nothing else: an address or CIDR inside
    127.0.0.0/8 or ::1/128 (moby's registry config), and localhost, with an optional port.
    127.evil.example is a hostname that may resolve anywhere."""
    host = name.strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        return False
    return any(
        network.subnet_of(loop)  # type: ignore[arg-type]  # same IP version, checked first
        for loop in _LOOPBACK
        if network.version == loop.version
    )


@predicate("2.6")
@_daemon_check
def aufs(ctx: CheckContext) -> Outcome:
    driver = ctx.setting("storage-driver").value or (ctx.docker_info or {}).get("Driver") or ""
    if not driver:
        return Outcome.na(NOT_ANSWERING + "no storage-driver is configured, and dockerd picks one when it starts")
    return Outcome.of(driver != "aufs", f"storage driver: {driver}")


@predicate("2.7")
@_daemon_check
def tcp_tls(ctx: CheckContext) -> Outcome:
    exposures = ctx.effective.tcp_exposures
    if not exposures:
        return Outcome.na("dockerd has no TCP endpoint (unix socket only)")
    return _exposure_outcome(exposures, ctx.effective.tls)


@predicate("REM-TCP")
@_daemon_check
def tcp_exposure(ctx: CheckContext) -> Outcome:
    exposures = ctx.effective.tcp_exposures
    if not exposures:
        return Outcome.passed(
            "no TCP endpoint in daemon.json hosts, -H flags, DOCKER_OPTS/Environment or docker.socket"
        )
    return _exposure_outcome(exposures, ctx.effective.tls)


def _exposure_outcome(exposures, tls) -> Outcome:
    """Passes only with client verification against a known CA: tlsverify without tlscacert (in
    daemon.json) accepts a client certificate from any CA of the system roots."""
    lines = [
        f"{e.written} ({e.origin}, {e.source}): TLS {e.tls}" + "".join(f"; {n}" for n in e.notes) for e in exposures
    ]
    return Outcome.of(all(e.tls == "tlsverify" for e in exposures) and tls.ca is not None, *lines)


@predicate("2.8")
@_daemon_check
def default_ulimits(ctx: CheckContext) -> Outcome:
    return Outcome.of(bool(ctx.setting("default-ulimits").value), where(ctx, "default-ulimits"))


@predicate("2.9")
@_daemon_check
def userns(ctx: CheckContext) -> Outcome:
    return Outcome.of(bool(ctx.setting("userns-remap").value), where(ctx, "userns-remap"))


@predicate("2.10")
@_daemon_check
def cgroup_parent(ctx: CheckContext) -> Outcome:
    return Outcome.of(not ctx.setting("cgroup-parent").value, where(ctx, "cgroup-parent"))


@predicate("2.11")
@_daemon_check
def base_size(ctx: CheckContext) -> Outcome:
    opts = [o for o in ctx.setting("storage-opts").value or [] if str(o).startswith("dm.basesize")]
    return Outcome.of(not opts, where(ctx, "storage-opts"))


@predicate("2.12")
@_daemon_check
def authorization(ctx: CheckContext) -> Outcome:
    return Outcome.of(bool(ctx.setting("authorization-plugins").value), where(ctx, "authorization-plugins"))


@predicate("2.13")
@_daemon_check
def remote_logging(ctx: CheckContext) -> Outcome:
    driver = ctx.setting("log-driver").value or "json-file"
    return Outcome.of(driver in REMOTE_LOG_DRIVERS, where(ctx, "log-driver"))


@predicate("2.17")
@_daemon_check
def custom_seccomp(ctx: CheckContext) -> Outcome:
    profile = ctx.setting("seccomp-profile").value
    if profile and profile not in ("unconfined", "builtin", "default"):  # "default": the built-in before 23.0
        return Outcome.passed(where(ctx, "seccomp-profile"))
    return Outcome.info("the default seccomp profile applies (a custom one is optional)")


@predicate("REM-SECCOMP")
@_daemon_check
def seccomp_default(ctx: CheckContext) -> Outcome:
    profile = ctx.setting("seccomp-profile").value
    if profile == "unconfined":
        return Outcome.failed(where(ctx, "seccomp-profile"))
    if ctx.docker_info is None:
        return Outcome.na(
            NOT_ANSWERING + f"seccomp profile {profile or 'default'} is configured; whether seccomp "
            "is in force is only in docker info's SecurityOptions"
        )
    options = ctx.docker_info.get("SecurityOptions")
    seccomp = [o for o in options or [] if o.startswith("name=seccomp")]
    if options is not None and not seccomp:
        return Outcome.failed(f"docker info SecurityOptions lacks seccomp: {options}")
    unconfined = [o for o in seccomp if "profile=unconfined" in o.split(",")]
    if unconfined:
        return Outcome.failed(
            f"docker info SecurityOptions: {unconfined[0]} (dockerd runs containers without "
            "seccomp unless they ask for a profile)"
        )
    return Outcome.passed(f"seccomp profile: {profile or 'default'}")


@predicate("REM-CONFIG")
@_daemon_check
def config_valid(ctx: CheckContext) -> Outcome:
    problems = ctx.effective.problems
    notes = _storage_notes(ctx)
    if not problems:
        return Outcome.passed(f"{ctx.daemon_json_path} and the dockerd flags are consistent for this version", *notes)
    return Outcome.failed(*(_problem_text(p) for p in problems), *notes)


def _storage_notes(ctx: CheckContext) -> list[str]:
    """How daemon.json is stored, when dockerd reads it fine but harden will not rewrite it."""
    fact = ctx.daemon_json
    if fact.kind == "symlink":
        return [f"{fact.path} is a symlink to {fact.link_target}: dockerd follows it; harden does not replace links"]
    if fact.content is not None and len(fact.content) > REVIEW_LIMIT:
        return [f"{fact.path} is {len(fact.content)} bytes, over the {REVIEW_LIMIT} harden rewrites"]
    return []


def _problem_text(problem) -> str:
    where = ", ".join(str(s) for s in problem.evidence)
    return (
        f"{problem.kind}: {problem.message}"
        + (f" [{where}]" if where else "")
        + (" — dockerd refuses to start" if problem.fatal else "")
    )


@predicate("REM-RUNNING")
@_daemon_check
def running(ctx: CheckContext) -> Outcome:
    if not ctx.service.known:
        answers = "dockerd answers" if ctx.docker_info is not None else "dockerd does not answer"
        return Outcome.na(f"systemctl was not found: docker.service's state cannot be read ({answers})")
    state = ctx.service.active_state
    masked = [u for u, unit in (("docker.service", ctx.service), ("docker.socket", ctx.socket)) if unit.masked]
    if masked:
        return Outcome.failed(
            f"docker.service is {state}",
            *(f"{unit} is masked: docker.service cannot be started again until it is unmasked" for unit in masked),
        )
    if state == "active":
        return Outcome.passed("docker.service is active")
    reason = ctx.effective.down_reason
    return Outcome.failed(
        f"docker.service is {state}", *([f"journal: {reason.message or reason.line}"] if reason else [])
    )


@predicate("REM-DRIFT")
@_daemon_check
def drift(ctx: CheckContext) -> Outcome:
    if ctx.docker_info is None:
        return Outcome.na(NOT_ANSWERING + "nothing to compare with")
    items = ctx.effective.drift
    return Outcome.of(not items, *([d.message for d in items] or ["the running daemon matches its configuration"]))


@predicate("REM-SANDBOX-RUNTIME")
@_daemon_check
def sandbox_runtime(ctx: CheckContext) -> Outcome:
    if ctx.docker_info is None:
        return Outcome.na(NOT_ANSWERING + "its runtimes are only in docker info")
    runtimes = ctx.docker_info.get("Runtimes") or {}
    shown = [f"{name} ({_runs(spec)})" for name, spec in sorted(runtimes.items())]
    sandboxes = [name for name, spec in runtimes.items() if _is_sandbox(spec)]
    lead = f"sandboxed: {', '.join(sorted(sandboxes))}" if sandboxes else "no runtime runs gVisor (runsc) or Kata"
    return Outcome.of(bool(sandboxes), lead, f"runtimes: {', '.join(shown) or 'unknown'}")


def _runs(spec) -> str:
    spec = spec if isinstance(spec, dict) else {}
    return str(spec.get("path") or spec.get("runtimeType") or "?")


def _is_sandbox(spec) -> bool:
    spec = spec if isinstance(spec, dict) else {}
    binary = posixpath.basename(str(spec.get("path") or ""))
    shim = str(spec.get("runtimeType") or "")
    return binary in SANDBOX_BINARIES or posixpath.basename(shim) in SANDBOX_BINARIES or shim.startswith(SANDBOX_SHIMS)
