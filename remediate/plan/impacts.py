"""What a plan does to the workloads, read from the facts before anything is changed.

- userns-remap: dockerd moves to /var/lib/docker/<uid>.<gid>, so every image
  and container it has disappears from view; privileged and host-namespace
  containers have to be re-created with --userns=host.
- a restart stops the running containers unless live-restore is *already*
  active; live-restore is reloadable, so a SIGHUP reload before the restart
  activates it and they keep running (the planner orders the actions so) —
  except when the same restart switches userns-remap on.
- live-restore on an active swarm node makes dockerd refuse to start: held back.
- settings that defeat Docker whatever we write: net.ipv4.ip_forward=0 (OS
  hardening baselines set it; containers lose their outbound network).
- known side effects of settings, true on every engine: no-new-privileges
  (setuid, file capabilities, SELinux transitions; containers created
  afterwards only), userland-proxy false (IPv6 addresses stop answering for
  IPv4-only networks: without docker-proxy nothing bridges IPv6 to IPv4),
  default-ulimits (every container at its next start).
"""

from __future__ import annotations

from remediate.plan.model import Impact
from remediate.plan.view import HostView

_NAMESPACES = (("NetworkMode", "network"), ("PidMode", "pid"), ("IpcMode", "ipc"), ("UTSMode", "uts"))


def _name(container: dict) -> str:
    return str(container.get("Name") or container.get("Id", "?")[:12]).lstrip("/")


def needs_userns_host(container: dict) -> list[str]:
    """Why a container needs --userns=host under userns-remap (empty: it does not)."""
    if container.get("UsernsMode") == "host":
        return []
    why = ["privileged"] if container.get("Privileged") else []
    why += [f"{label}=host" for field, label in _NAMESPACES if container.get(field) == "host"]
    return why


def userns_impacts(view: HostView, *, held: bool) -> list[Impact]:
    info = view.info
    lead = "userns-remap (held back) would" if held else "userns-remap will"
    severity = "info" if held else "high"
    if not view.ctx.containers_known and not info:
        return [
            Impact(
                "userns-remap",
                f"{lead} hide every existing image, container and volume (dockerd did not answer: how many is unknown)",
                severity,
            )
        ]
    images, containers = info.get("Images"), info.get("Containers", len(view.ctx.containers))
    running = view.running_containers
    out = [
        Impact(
            "userns-remap",
            f"{lead} hide {images if images is not None else 'all'} image(s) and {containers} container(s) "
            f"({running} running) from dockerd: its data moves to /var/lib/docker/<uid>.<gid>; images must be "
            "pulled or loaded again and containers re-created",
            severity,
        )
    ]
    risky = sorted((_name(c), why) for c in view.ctx.containers if (why := needs_userns_host(c)))
    if risky:
        names = "; ".join(f"{name} ({', '.join(why)})" for name, why in risky)
        out.append(
            Impact(
                "userns-host-needed",
                f"{lead} break {len(risky)} privileged or host-namespace container(s) unless re-created "
                f"with --userns=host: {names}",
                severity,
            )
        )
    return out


def restart_impact(
    view: HostView, *, live_restore_after: bool, userns_enabling: bool = False
) -> tuple[Impact | None, bool]:
    """The impact of restarting dockerd, and whether to reload first to activate live-restore.

    Not when userns-remap is switched on by the same restart: the remapped
    dockerd does not know the old containers, so live-restore would leave
    them running unmanaged (no `docker stop` reaches them); a clean stop is better.
    """
    running = view.running_containers
    if view.docker_state != "active":
        return Impact("restart", f"docker.service is {view.docker_state}: harden starts it", "info"), False
    if not running:
        return None, False
    if userns_enabling:
        return Impact(
            "restart",
            f"the restart stops the {running} running container(s): userns-remap takes them out "
            "of dockerd's view anyway, and live-restore would leave them running unmanaged",
            "high",
        ), False
    if view.info.get("LiveRestoreEnabled") is True:
        return Impact(
            "restart",
            f"dockerd restarts; its {running} running container(s) keep running (live-restore is active)",
            "info",
        ), False
    if live_restore_after:
        return Impact(
            "restart",
            f"dockerd restarts; live-restore is not active yet, so it is enabled first by a "
            f"reload (SIGHUP) and the {running} running container(s) keep running",
            "low",
        ), True
    return Impact(
        "restart",
        f"the restart stops the {running} running container(s): live-restore is not active and "
        "this plan does not enable it",
        "high",
    ), False


def ip_forward_impact(view: HostView) -> Impact | None:
    value = view.ctx.parsed.ip_forward
    if value != "0":
        return None
    if view.effective.value("ip-forward") is False:
        return Impact(
            "ip-forward",
            "net.ipv4.ip_forward=0 and dockerd's ip-forward is false: containers have no outbound network",
            "medium",
        )
    if view.docker_state == "active":
        return Impact(
            "ip-forward",
            "net.ipv4.ip_forward=0 although dockerd is running (it sets it to 1 at start): "
            "something on the host resets it (an OS-hardening sysctl?), so Docker networking is off "
            "whatever harden writes; keep net.ipv4.ip_forward=1 on Docker hosts",
            "high",
        )
    return Impact(
        "ip-forward",
        "net.ipv4.ip_forward=0 (dockerd is not running; it sets 1 when it starts): if an "
        "OS-hardening sysctl resets it, Docker networking stays off whatever harden writes",
        "medium",
    )


def setting_impacts(written: set[str], settings: dict | None = None) -> list[Impact]:
    """The side effects of the daemon.json keys this plan writes (`settings`: the values they get)."""
    settings = settings or {}
    out = []
    if "no-new-privileges" in written:
        out.append(
            Impact(
                "no-new-privileges",
                "no-new-privileges: inside containers created after the change, "
                "setuid binaries and sudo stop working, file capabilities are not granted (a non-root "
                "server given cap_net_bind_service by setcap can no longer bind :80) and SELinux domain "
                "transitions on exec are refused unless the new domain is bounded by the old; "
                "existing containers keep their setting until re-created",
                "low",
            )
        )
    if "userland-proxy" in written:
        out.append(
            Impact(
                "userland-proxy",
                "userland-proxy false: ports published from IPv4-only networks (the "
                "default bridge and every network without IPv6) stop answering on every IPv6 address of "
                "the host, ::1 included: without docker-proxy nothing forwards IPv6 to a container's IPv4 "
                "address; clients that connect over IPv6 (AAAA records) fail; the host's IPv4 addresses "
                "keep working",
                "low",
            )
        )
    if "default-ulimits" in written:
        out.append(
            Impact(
                "default-ulimits",
                f"default-ulimits {_limits(settings.get('default-ulimits'))}: applies to "
                "every container at its next start (restarts included, not only new ones) unless it sets "
                "its own --ulimit; a workload needing more (databases, proxies with many connections) "
                'fails with "too many open files" or refuses to start',
                "medium",
            )
        )
    if "icc" in written:
        out.append(
            Impact(
                "icc",
                "icc false: containers on the default bridge can no longer reach each other unless "
                "linked or on a user-defined network",
                "low",
            )
        )
    return out


def _limits(value) -> str:
    """{"nofile": {"Soft": 1024, "Hard": 65536}} as nofile=1024:65536."""
    if not isinstance(value, dict):
        return ""
    return ", ".join(
        f"{name}={spec.get('Soft')}:{spec.get('Hard')}" if isinstance(spec, dict) else f"{name}={spec}"
        for name, spec in sorted(value.items())
    )
