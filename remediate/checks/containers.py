"""Sections 4.1 and 5: what running and created containers are allowed to do. Report-only.

Every container is judged, running or created: a created --privileged
container is one `docker start` away from owning the host.
"""

from __future__ import annotations

from collections.abc import Callable

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts import parse

SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
SOCKET_DIRS = ("/run", "/var/run")


def _name(c: dict) -> str:
    return f"{c.get('Name', '?').lstrip('/')} ({c.get('Status', '?')})"


def per_container(problem: Callable[[dict], str | None], ok_text: str):
    """A check that fails for every container where `problem` returns a description."""

    def check(ctx: CheckContext) -> Outcome:
        if not ctx.containers_known:
            return Outcome.na("dockerd is not answering: containers could not be listed")
        if not ctx.containers:
            return Outcome.na("no containers on this host")
        found = [(c, problem(c)) for c in ctx.containers]
        bad = [f"{_name(c)}: {why}" for c, why in found if why]
        return Outcome.failed(*bad) if bad else Outcome.passed(f"{len(ctx.containers)} container(s): {ok_text}")
    return check


def _mounts(c: dict) -> list[dict]:
    return c.get("Mounts") or []


def _host_mode(field: str):
    return lambda c: f"{field}={c.get(field)}" if c.get(field) == "host" else None


def _user(c: dict) -> str | None:
    user = (c.get("User") or "").split(":")[0]
    return f"runs as {user or 'root (no user set)'}" if user in ("", "0", "root") else None


def _sensitive(c: dict) -> str | None:
    bad = [m["Source"] for m in _mounts(c) if m.get("RW") and m.get("Source") in SENSITIVE_DIRS]
    return f"host {', '.join(bad)} mounted read-write" if bad else None


def _socket(c: dict) -> str | None:
    bad = [m["Source"] for m in _mounts(c) if m.get("Source") in DOCKER_SOCKETS + SOCKET_DIRS]
    return f"mounts {', '.join(bad)}" if bad else None


def _bindings(c: dict) -> list[tuple[str, str, str]]:
    out = []
    for port, binds in (c.get("PortBindings") or {}).items():
        for b in binds or []:
            out.append((port, b.get("HostIp") or "", b.get("HostPort") or ""))
    return out


def _privileged_port(c: dict) -> str | None:
    bad = [f"{hp}->{port}" for port, _, hp in _bindings(c) if hp.isdigit() and 0 < int(hp) < 1024]
    return f"publishes privileged port(s) {', '.join(bad)}" if bad else None


def _all_interfaces(c: dict) -> str | None:
    bad = [f"{ip or '0.0.0.0'}:{hp}->{port}" for port, ip, hp in _bindings(c) if ip in ("", "0.0.0.0", "::")]
    return f"published on every interface: {', '.join(bad)}" if bad else None


def _seccomp_off(c: dict) -> str | None:
    opts = [o for o in c.get("SecurityOpt") or [] if o.replace(":", "=") == "seccomp=unconfined"]
    return "seccomp=unconfined" if opts else None


def _no_new_privs(c: dict) -> str | None:
    opts = [o.replace(":", "=") for o in c.get("SecurityOpt") or []]
    return None if any(o in ("no-new-privileges", "no-new-privileges=true") for o in opts) else "no-new-privileges not set"


def _no_healthcheck(c: dict) -> str | None:
    check = c.get("Healthcheck") or {}
    if not check:
        return "no health check"
    return "health check disabled (--no-healthcheck: Test NONE)" if (check.get("Test") or [None])[0] == "NONE" else None


def _restart(c: dict) -> str | None:
    """CIS 5.15 wants on-failure with at most 5 retries: always and unless-stopped restart without end, and so
    does on-failure without a count (0 means no limit)."""
    policy = c.get("RestartPolicy") or {}
    name, count = policy.get("Name") or "no", policy.get("MaximumRetryCount") or 0
    if name in ("always", "unless-stopped"):
        return f"{name} (restarts without limit)"
    if name == "on-failure" and (count == 0 or count > 5):
        return f"on-failure:{count}" + (" (0: no limit)" if count == 0 else "")
    return None


RULES: dict[str, tuple[Callable[[dict], str | None], str]] = {
    "4.1": (_user, "none runs as root"),
    "5.4": (lambda c: f"adds capabilities {', '.join(c['CapAdd'])}" if c.get("CapAdd") else None, "no added capabilities"),
    "5.5": (lambda c: "privileged" if c.get("Privileged") else None, "none privileged"),
    "5.6": (_sensitive, "no sensitive host directory mounted read-write"),
    "5.8": (_privileged_port, "no privileged port published"),
    "5.10": (_host_mode("NetworkMode"), "none shares the host network"),
    "5.11": (lambda c: "no memory limit" if not c.get("Memory") else None, "all have memory limits"),
    "5.12": (lambda c: "no CPU shares set" if not c.get("CpuShares") else None, "CPU shares set"),
    "5.13": (lambda c: "root filesystem writable" if not c.get("ReadonlyRootfs") else None, "read-only root filesystems"),
    "5.14": (_all_interfaces, "ports bound to specific interfaces"),
    "5.15": (_restart, "restart policies bounded"),
    "5.16": (_host_mode("PidMode"), "none shares the host PID namespace"),
    "5.17": (_host_mode("IpcMode"), "none shares the host IPC namespace"),
    "5.18": (lambda c: f"{len(c['Devices'])} host device(s)" if c.get("Devices") else None, "no host devices"),
    "5.20": (lambda c: "shared mount propagation" if any(m.get("Propagation") in ("shared", "rshared") for m in _mounts(c)) else None,
             "no shared propagation"),
    "5.21": (_host_mode("UTSMode"), "none shares the host UTS namespace"),
    "5.22": (_seccomp_off, "seccomp profile in force"),
    "5.25": (lambda c: f"cgroup parent {c['CgroupParent']}" if c.get("CgroupParent") else None, "default cgroups"),
    "5.27": (_no_healthcheck, "health checks defined"),
    "5.29": (lambda c: "no PIDs limit" if not c.get("PidsLimit") or c.get("PidsLimit", 0) <= 0 else None, "PIDs limits set"),
    "5.31": (_host_mode("UsernsMode"), "none shares the host user namespace"),
    "5.32": (lambda c: _socket(c) if any(m.get("Source") in DOCKER_SOCKETS for m in _mounts(c)) else None,
             "docker.sock not mounted"),
    "REM-SOCK-MOUNT": (_socket, "neither docker.sock nor /run mounted"),
}

for _id, (_problem, _ok) in RULES.items():
    predicate(_id)(per_container(_problem, _ok))


@predicate("5.26")
def no_new_privileges(ctx: CheckContext) -> Outcome:
    if ctx.setting("no-new-privileges").value is True:
        return Outcome.passed(f"daemon-wide no-new-privileges ({ctx.setting('no-new-privileges').source})")
    return per_container(_no_new_privs, "all set no-new-privileges")(ctx)


@predicate("5.1")
def swarm(ctx: CheckContext) -> Outcome:
    if ctx.docker_info is None:
        return Outcome.na("dockerd is not answering")
    return Outcome.of(not parse.in_swarm(ctx.docker_info), f"swarm LocalNodeState={parse.swarm_state(ctx.docker_info)}")


@predicate("5.2")
def apparmor_profiles(ctx: CheckContext) -> Outcome:
    if ctx.facts.command("apparmor").stdout.strip() != "Y":
        return Outcome.na("AppArmor is not enabled on this host")
    return per_container(lambda c: "no AppArmor profile" if c.get("AppArmorProfile") in ("", "unconfined", None) else None,
                         "AppArmor profiles applied")(ctx)


@predicate("5.3")
def selinux_options(ctx: CheckContext) -> Outcome:
    if ctx.facts.command("selinux").stdout.strip() not in ("Enforcing", "Permissive"):
        return Outcome.na("SELinux is not enabled on this host")
    return per_container(lambda c: None if any(o.startswith("label") and o.replace(":", "=", 1) != "label=disable"
                                               for o in c.get("SecurityOpt") or [])
                         else "no SELinux label options", "SELinux options set")(ctx)


@predicate("5.9")
def open_ports(ctx: CheckContext) -> Outcome:
    if not ctx.containers_known or not ctx.containers:
        return Outcome.na("no containers to inspect")
    published = [f"{_name(c)}: {ip or '0.0.0.0'}:{hp}->{port}" for c in ctx.containers for port, ip, hp in _bindings(c)]
    return Outcome.info(*(published or ["no published ports"]))
