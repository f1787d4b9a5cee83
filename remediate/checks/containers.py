"""Sections 4.1 and 5: what running and created containers are allowed to do. Report-only.

Every container is judged, running or created: a created --privileged
container is one `docker start` away from owning the host.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate

SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DOCKER_SOCKETS = ("/run/docker.sock",)
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/run/containerd/containerd.sock.ttrpc")
# A rootless dockerd's API socket ($XDG_RUNTIME_DIR/docker.sock).
ROOTLESS_SOCKET = re.compile(r"^/run/user/[0-9]+/docker\.sock$")
# moby oci/caps/defaults.go: the capabilities every container gets unless it drops them.
DEFAULT_CAPS = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    }
)
# A full image ID: the hash of the image's config, which names every layer: as immutable as a digest.
IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


def _name(c: dict) -> str:
    return f"{c.get('Name', '?').lstrip('/')} ({c.get('Status', '?')})"


def judge(ctx: CheckContext, problem: Callable[[dict], str | None], ok_text: str) -> Outcome:
    """Fail every container where `problem` returns a description; pass when none does."""
    if not ctx.containers_known:
        return Outcome.na("dockerd is not answering: containers could not be listed")
    if not ctx.containers:
        return Outcome.na("no containers on this host")
    found = [(c, problem(c)) for c in ctx.containers]
    bad = [f"{_name(c)}: {why}" for c, why in found if why]
    return Outcome.failed(*bad) if bad else Outcome.passed(f"{len(ctx.containers)} container(s): {ok_text}")


def per_container(problem: Callable[[dict], str | None], ok_text: str):
    """A check that fails for every container where `problem` returns a description."""
    return lambda ctx: judge(ctx, problem, ok_text)


def _mounts(c: dict) -> list[dict]:
    """A container's mounts in a fixed order: dockerd lists them from a map, in any order, inspect to inspect."""
    return sorted(c.get("Mounts") or [], key=lambda m: (str(m.get("Destination")), str(m.get("Source"))))


def _host_mode(field: str):
    return lambda c: f"{field}={c.get(field)}" if c.get(field) == "host" else None


def _user(c: dict) -> str | None:
    user = (c.get("User") or "").split(":")[0]
    return f"runs as {user or 'root (no user set)'}" if user in ("", "0", "root") else None


def _sensitive(c: dict) -> str | None:
    bad = [m["Source"] for m in _mounts(c) if m.get("RW") and m.get("Source") in SENSITIVE_DIRS]
    return f"host {', '.join(bad)} mounted read-write" if bad else None


def _host_path(path: str) -> str:
    """/var/run is a link to /run on every current distribution: compare the two as one."""
    path = posixpath.normpath(path or "/")
    return "/run" + path[len("/var/run") :] if path == "/var/run" or path.startswith("/var/run/") else path


def _api_sockets(ctx: CheckContext) -> dict[str, str]:
    """Each API socket of this host -> which API it serves: dockerd's (docker.socket's ListenStream, -H unix://,
    and Docker's default path, where a client looks first) and containerd's."""
    sockets = {_host_path(p): f"Docker API ({p})" for p in (*ctx.docker_socket_paths, *DOCKER_SOCKETS)}
    containerd = ctx.setting("containerd").value
    for path in (*CONTAINERD_SOCKETS, *([containerd] if isinstance(containerd, str) and containerd else [])):
        sockets.setdefault(_host_path(path), f"containerd API ({path})")
    return sockets


def _reached(source: str, sockets: dict[str, str]) -> list[str]:
    """The APIs a mount of host path `source` hands the container: the socket itself, or any directory above
    it (`/`, /run, /run/containerd...), read-only or not: connect() on a socket needs no write access to its mount."""
    src = _host_path(source)

    def below(path: str) -> bool:
        spellings = (path, "/var" + path) if path.startswith("/run/") else (path,)  # /var holds /var/run
        return any(p == src or p.startswith(src.rstrip("/") + "/") for p in spellings)

    inside = [api for path, api in sockets.items() if below(path)]
    if ROOTLESS_SOCKET.match(src) or src in ("/", "/var", "/run", "/run/user") or re.match(r"^/run/user/[0-9]+$", src):
        inside.append(f"rootless Docker API ({src if src.endswith('.sock') else '/run/user/N/docker.sock'})")
    return sorted(set(inside))


def api_socket_mounts(ctx: CheckContext, c: dict) -> list[str]:
    return [
        f"mounts {m.get('Source')}: reaches the {', the '.join(apis)}"
        for m in _mounts(c)
        if (apis := _reached(m.get("Source") or "", _api_sockets(ctx)))
    ]


def _bindings(c: dict) -> list[tuple[str, str, str]]:
    """(container port, host IP, host port) of every published port: the real bindings of a running container
    (NetworkSettings.Ports, with -P's random ports), else what it asks for (PortBindings); a created -P
    container publishes each exposed port on every interface at its start."""
    live = c.get("Status") == "running" and bool(c.get("Ports"))
    configured = (c.get("Ports") if live else c.get("PortBindings")) or {}
    out = [
        (port, b.get("HostIp") or "", b.get("HostPort") or "")
        for port, binds in configured.items()
        for b in binds or []
    ]
    if c.get("PublishAllPorts") and not live:
        out += [(port, "", "random (-P)") for port in c.get("ExposedPorts") or {} if port not in configured]
    return sorted(set(out))


def _below_1024(host_port: str) -> bool:
    """A host port or the low end of a range ("80-90") under 1024."""
    low = host_port.split("-")[0]
    return low.isdigit() and 0 < int(low) < 1024


def _privileged_port(c: dict) -> str | None:
    bad = list(dict.fromkeys(f"{hp}->{port}" for port, _, hp in _bindings(c) if _below_1024(hp)))  # IPv4 and [::]
    return f"publishes privileged port(s) {', '.join(bad)}" if bad else None


def _all_interfaces(c: dict) -> str | None:
    bad = [f"{ip or '0.0.0.0'}:{hp}->{port}" for port, ip, hp in _bindings(c) if ip in ("", "0.0.0.0", "::")]
    why = " (-P: every exposed port)" if c.get("PublishAllPorts") else ""
    return f"published on every interface{why}: {', '.join(bad)}" if bad else None


def _cap(name: str) -> str:
    name = name.upper()
    return name.removeprefix("CAP_")


def _capabilities(c: dict) -> str | None:
    """CIS 5.4: only capabilities beyond Docker's default set widen a container; ALL adds every one."""
    added = {_cap(n) for n in c.get("CapAdd") or []}
    dropped = {_cap(n) for n in c.get("CapDrop") or []}
    if "ALL" in added:
        return "adds ALL capabilities"
    beyond = sorted(added - DEFAULT_CAPS - (dropped - {"ALL"}))
    return f"adds capabilities {', '.join(beyond)} (beyond Docker's default set)" if beyond else None


def _image(c: dict) -> str:
    return c.get("Image") or ""


def _pinned(c: dict) -> bool:
    return "@sha256:" in _image(c) or bool(IMAGE_ID.match(_image(c)))


def _latest(c: dict) -> str | None:
    """CIS 5.28: a tag that moves (latest, or none, which means latest) runs whatever was pulled last."""
    if _pinned(c):
        return None
    name = _image(c)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
    if tag in ("", "latest"):
        return f"image {name or '?'}: {'untagged (latest)' if not tag else 'tag latest'}"
    return None


def _unpinned(c: dict) -> str | None:
    if c.get("Status") != "running" or _pinned(c):
        return None
    return f"image {_image(c) or '?'} not pinned by digest"


def _default_bridge(c: dict) -> str | None:
    """The networks dockerd attached (NetworkSettings.Networks) decide; NetworkMode alone misleads: a swarm task
    container says "bridge" and sits on ingress and overlays only. NetworkMode where they were not gathered."""
    networks = c.get("Networks")
    if isinstance(networks, dict):
        return "on the default bridge docker0 (network bridge)" if "bridge" in networks else None
    mode = c.get("NetworkMode") or ""
    return f"on the default bridge docker0 (NetworkMode={mode})" if mode in ("default", "bridge") else None


SSH_SERVERS = ("sshd", "dropbear")


@predicate("5.7")
def no_sshd(ctx: CheckContext) -> Outcome:
    """A container's main process (Path), and any process named sshd or dropbear whose cgroup is the
    container's (the probe reads /proc once for the whole host): an sshd an init or a shell started counts too."""
    processes = ctx.parsed.containers.processes

    def problem(c: dict) -> str | None:
        path = c.get("Path") or ""
        found = [f"runs {path}"] if posixpath.basename(path) in SSH_SERVERS else []
        found += [f"process {name} (pid {pid} on the host)" for pid, name in processes.get(c.get("Id", ""), ())]
        return "; ".join(found) or None

    return judge(ctx, problem, "no sshd: neither a main process nor a running process of a container")


def _seccomp_off(c: dict) -> str | None:
    opts = [o for o in c.get("SecurityOpt") or [] if o.replace(":", "=") == "seccomp=unconfined"]
    return "seccomp=unconfined" if opts else None


def _no_new_privs(c: dict) -> str | None:
    opts = [o.replace(":", "=") for o in c.get("SecurityOpt") or []]
    return (
        None if any(o in ("no-new-privileges", "no-new-privileges=true") for o in opts) else "no-new-privileges not set"
    )


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
    "5.4": (_capabilities, "no added capabilities beyond Docker's default set"),
    "5.5": (lambda c: "privileged" if c.get("Privileged") else None, "none privileged"),
    "5.6": (_sensitive, "no sensitive host directory mounted read-write"),
    "5.8": (_privileged_port, "no privileged port published"),
    "5.10": (_host_mode("NetworkMode"), "none shares the host network"),
    "5.11": (lambda c: "no memory limit" if not c.get("Memory") else None, "all have memory limits"),
    "5.12": (lambda c: "no CPU shares set" if not c.get("CpuShares") else None, "CPU shares set"),
    "5.13": (
        lambda c: "root filesystem writable" if not c.get("ReadonlyRootfs") else None,
        "read-only root filesystems",
    ),
    "5.14": (_all_interfaces, "ports bound to specific interfaces"),
    "5.15": (_restart, "restart policies bounded"),
    "5.16": (_host_mode("PidMode"), "none shares the host PID namespace"),
    "5.17": (_host_mode("IpcMode"), "none shares the host IPC namespace"),
    "5.18": (lambda c: f"{len(c['Devices'])} host device(s)" if c.get("Devices") else None, "no host devices"),
    "5.20": (
        lambda c: (
            "shared mount propagation"
            if any(m.get("Propagation") in ("shared", "rshared") for m in _mounts(c))
            else None
        ),
        "no shared propagation",
    ),
    "5.21": (_host_mode("UTSMode"), "none shares the host UTS namespace"),
    "5.22": (_seccomp_off, "seccomp profile in force"),
    "5.25": (lambda c: f"cgroup parent {c['CgroupParent']}" if c.get("CgroupParent") else None, "default cgroups"),
    "5.27": (_no_healthcheck, "health checks defined"),
    "5.28": (_latest, "every image named by a version tag, a digest or its ID"),
    "5.29": (
        lambda c: "no PIDs limit" if not c.get("PidsLimit") or c.get("PidsLimit", 0) <= 0 else None,
        "PIDs limits set",
    ),
    "5.30": (_default_bridge, "none on the default bridge docker0"),
    "5.31": (_host_mode("UsernsMode"), "none shares the host user namespace"),
    "REM-IMAGE-DIGEST": (_unpinned, "every running container's image is pinned by digest (or by its image ID)"),
}

for _id, (_problem, _ok) in RULES.items():
    predicate(_id)(per_container(_problem, _ok))


@predicate("5.32")
@predicate("REM-SOCK-MOUNT")
def api_socket_mounted(ctx: CheckContext) -> Outcome:
    return judge(
        ctx,
        lambda c: "; ".join(api_socket_mounts(ctx, c)) or None,
        "docker.sock not mounted, nor containerd's socket, nor a directory above them",
    )


@predicate("5.26")
def no_new_privileges(ctx: CheckContext) -> Outcome:
    """dockerd copies its no-new-privileges into a container when it creates it (moby parseSecurityOpt), into
    config.v2.json and not into HostConfig.SecurityOpt: what it recorded there is what runs. Containers created
    before the daemon-wide setting keep running without it."""
    recorded = ctx.parsed.containers.no_new_privileges
    daemon_wide = ctx.setting("no-new-privileges").value is True

    def problem(c: dict) -> str | None:
        own = _no_new_privs(c) is None
        known = recorded.get(c.get("Id", ""))
        if known is None:
            return None if own else "no-new-privileges not in its SecurityOpt (dockerd's record of it was not readable)"
        if known:
            return None
        return "no-new-privileges not set" + (
            " (created before the daemon-wide setting, which applies only to containers created after it)"
            if daemon_wide
            else ""
        )

    return judge(ctx, problem, "all set no-new-privileges (their own, or dockerd's when they were created)")


@predicate("5.1")
def swarm(ctx: CheckContext) -> Outcome:
    if ctx.docker_info is None:
        return Outcome.na("dockerd is not answering")
    return Outcome.of(not ctx.parsed.in_swarm, f"swarm LocalNodeState={ctx.parsed.swarm_state}")


@predicate("5.2")
def apparmor_profiles(ctx: CheckContext) -> Outcome:
    if not ctx.parsed.apparmor:
        return Outcome.na("AppArmor is not enabled on this host")
    return per_container(
        lambda c: "no AppArmor profile" if c.get("AppArmorProfile") in ("", "unconfined", None) else None,
        "AppArmor profiles applied",
    )(ctx)


def _unlabelled(c: dict) -> str | None:
    """dockerd labels every container itself once selinux-enabled is on; label=disable (which it also records
    for --privileged, --pid host and --ipc host) turns that off."""
    off = [o for o in c.get("SecurityOpt") or [] if o.replace(":", "=", 1) in ("label=disable", "disable")]
    return "SELinux separation disabled (label=disable)" if off else None


@predicate("5.3")
def selinux_options(ctx: CheckContext) -> Outcome:
    mode = ctx.parsed.selinux
    if mode not in ("Enforcing", "Permissive"):
        return Outcome.na("SELinux is not enabled on this host")
    if mode == "Permissive":
        return Outcome.failed(
            "SELinux is Permissive: container labels are only logged, never enforced "
            "(setenforce 1, SELINUX=enforcing in /etc/selinux/config)"
        )
    enabled = ctx.setting("selinux-enabled")
    if enabled.value is not True:
        return Outcome.failed(
            f"selinux-enabled = {enabled.value} ({enabled.source or 'dockerd default'}): dockerd "
            "gives containers no SELinux label, so SELinux does not confine them"
        )
    return judge(ctx, _unlabelled, "SELinux options set (labelled by dockerd: selinux-enabled)")


def _ulimit_overrides(c: dict, defaults: dict) -> str | None:
    """The container's ulimits that are not the daemon's: dockerd copies its default-ulimits into every
    container's HostConfig.Ulimits when it creates it (moby mergeUlimits), so those are no override."""

    def daemon(name: str) -> tuple:
        d = defaults.get(name) or {}
        return d.get("Soft"), d.get("Hard")

    own = [u for u in c.get("Ulimits") or [] if (u.get("Soft"), u.get("Hard")) != daemon(u.get("Name"))]
    return ", ".join(f"{u.get('Name')}={u.get('Soft')}:{u.get('Hard')}" for u in own) or None


@predicate("5.19")
def ulimit_overrides(ctx: CheckContext) -> Outcome:
    """CIS: override the default ulimits only where needed: the overrides are listed for review, not failed."""
    defaults = ctx.setting("default-ulimits").value
    defaults = defaults if isinstance(defaults, dict) else {}
    outcome = judge(ctx, lambda c: _ulimit_overrides(c, defaults), "none overrides the daemon's default ulimits")
    if outcome.status != "fail":
        return outcome
    return Outcome.info(*(f"{e} (overrides the default ulimit: needed?)" for e in outcome.evidence))


def _exec_record(ctx: CheckContext, flag: str) -> Outcome:
    """dockerd keeps no record of past `docker exec` runs (it forgets an exec minutes after it ends, and its
    flags are API fields no audit watch sees): only the sessions it still tracks are listed."""
    if not ctx.containers_known:
        return Outcome.na("dockerd is not answering: containers could not be listed")
    live = [
        f"{_name(c)}: {len(c['ExecIDs'])} exec session(s) dockerd still tracks (docker exec inspect shows their {flag})"
        for c in ctx.containers
        if c.get("ExecIDs")
    ]
    return Outcome.info(
        *live,
        f"past `docker exec {'--privileged' if flag == 'Privileged' else '--user root'}` "
        "leaves no record on the host: dockerd forgets an exec once it has ended; an authorization "
        "plugin (2.12) is what can refuse or log them",
    )


predicate("5.23")(lambda ctx: _exec_record(ctx, "Privileged"))
predicate("5.24")(lambda ctx: _exec_record(ctx, "User"))


@predicate("5.9")
def open_ports(ctx: CheckContext) -> Outcome:
    if not ctx.containers_known or not ctx.containers:
        return Outcome.na("no containers to inspect")
    published = [f"{_name(c)}: {ip or '0.0.0.0'}:{hp}->{port}" for c in ctx.containers for port, ip, hp in _bindings(c)]
    return Outcome.info(*(published or ["no published ports"]))
