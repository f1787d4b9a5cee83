"""What we gather from a host, declared as data.

Round 1 reads every fixed path and runs every probe command in one batched
round trip; it also lists the paths that only the host can tell us (unit
drop-ins, EnvironmentFiles, audit rules.d files, a --config-file, TLS and
seccomp files named in daemon.json). Round 2, only when round 1 found such
paths, reads them. An audit therefore costs at most two round trips.
"""

from __future__ import annotations

# A PATH that finds the Docker and admin tools for non-root logins too.
PATH_PREFIX = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

FIXED_PATHS = (
    "/etc/os-release",
    "/etc/docker",
    "/etc/docker/daemon.json",
    "/etc/default/docker",
    "/etc/sysconfig/docker",
    "/etc/subuid",
    "/etc/subgid",
    "/etc/environment",
    "/etc/containerd/config.toml",
    "/etc/audit/audit.rules",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/lib/docker",
    "/var/snap/docker/current/config/daemon.json",
    "/etc/docker/seccomp.json",
)

SERVICE_PROPS = "FragmentPath,DropInPaths,ExecStart,Environment,EnvironmentFiles,ActiveState,SubState,MainPID,Result,LoadState,UnitFileState"
SOCKET_PROPS = "FragmentPath,DropInPaths,Listen,SocketMode,SocketUser,SocketGroup,ActiveState,LoadState,UnitFileState"

# The binaries CIS 1.1.x wants audited; resolved to real paths on the host.
AUDITED_BINARIES = (
    "dockerd", "docker", "containerd", "containerd-shim", "containerd-shim-runc-v1",
    "containerd-shim-runc-v2", "runc",
)

# Fields our container checks need, and nothing else: never .Config.Env.
CONTAINER_TEMPLATE = (
    '{"Id":{{json .Id}},"Name":{{json .Name}},"Image":{{json .Config.Image}},'
    '"Status":{{json .State.Status}},"User":{{json .Config.User}},'
    '"Privileged":{{json .HostConfig.Privileged}},"CapAdd":{{json .HostConfig.CapAdd}},'
    '"SecurityOpt":{{json .HostConfig.SecurityOpt}},"NetworkMode":{{json .HostConfig.NetworkMode}},'
    '"PidMode":{{json .HostConfig.PidMode}},"IpcMode":{{json .HostConfig.IpcMode}},'
    '"UTSMode":{{json .HostConfig.UTSMode}},"UsernsMode":{{json .HostConfig.UsernsMode}},'
    '"Memory":{{json .HostConfig.Memory}},"PidsLimit":{{json .HostConfig.PidsLimit}},'
    '"ReadonlyRootfs":{{json .HostConfig.ReadonlyRootfs}},"PortBindings":{{json .HostConfig.PortBindings}},'
    '"Devices":{{json .HostConfig.Devices}},"Mounts":{{json .Mounts}},'
    '"Healthcheck":{{json (index .Config \"Healthcheck\")}},"AppArmorProfile":{{json .AppArmorProfile}},'
    '"CpuShares":{{json .HostConfig.CpuShares}},"RestartPolicy":{{json .HostConfig.RestartPolicy}},'
    '"CgroupParent":{{json .HostConfig.CgroupParent}}}'
)

# name -> argv. Each runs with PATH_PREFIX; rc 127 means "not installed".
COMMANDS: dict[str, list[str]] = {
    "dockerd_version": ["dockerd", "--version"],
    "docker_info": ["docker", "info", "--format", "{{json .}}"],
    "service": ["systemctl", "show", "docker.service", "-p", SERVICE_PROPS],
    "socket": ["systemctl", "show", "docker.socket", "-p", SOCKET_PROPS],
    "listeners": ["ss", "-Hltnp"],
    "journal": ["journalctl", "-u", "docker.service", "-n", "40", "--no-pager", "-o", "cat"],
    "docker_group": ["getent", "group", "docker"],
    "dockremap_user": ["getent", "passwd", "dockremap"],
    "auditctl": ["auditctl", "-l"],
    "apparmor": ["cat", "/sys/module/apparmor/parameters/enabled"],
    "selinux": ["getenforce"],
    "ip_forward": ["sysctl", "-n", "net.ipv4.ip_forward"],
    "falco": ["systemctl", "is-active", "falco", "falco-modern-bpf", "falco-kmod", "falco-bpf"],
    "id": ["id", "-un"],
    "docker_root_mount": ["findmnt", "-n", "-o", "TARGET", "-T", "/var/lib/docker"],
}

# Trusted snippets (our text, no host-supplied values inside).
SNIPPETS: dict[str, str] = {
    "dockerd_cmdline": (
        'pid=$(systemctl show -p MainPID --value docker.service 2>/dev/null); '
        'if [ -n "$pid" ] && [ "$pid" != 0 ]; then tr "\\0" "\\n" < "/proc/$pid/cmdline"; fi'
    ),
    "binaries": (
        "for b in " + " ".join(AUDITED_BINARIES) + "; do "
        'p=$(command -v "$b" 2>/dev/null) || continue; '
        'printf "%s\\t%s\\n" "$b" "$(readlink -f "$p")"; done'
    ),
    "containers": (
        "ids=$(docker ps -aq --no-trunc) || exit 3; "
        '[ -z "$ids" ] || docker inspect --format "$REMEDIATE_CONTAINER_TEMPLATE" $ids'
    ),
    "content_trust": (
        "grep -rsH DOCKER_CONTENT_TRUST /etc/environment /etc/profile /etc/profile.d /etc/bash.bashrc 2>/dev/null; true"
    ),
    # Who holds harden's lock (remediate.apply.protocol.BASE), so a plan can say a run holds or left it.
    "apply_lock": (
        "[ -d /var/lib/remediate/lock ] && { cat /var/lib/remediate/lock/owner 2>/dev/null || echo unknown holder; }; "
        "true"
    ),
    # Paths only the host knows: unit files and drop-ins, env files, audit rules.d.
    "discovered_paths": (
        "for u in docker.service docker.socket; do "
        "systemctl show -p FragmentPath -p DropInPaths --value \"$u\" 2>/dev/null | tr ' ' '\\n'; done; "
        "systemctl show -p EnvironmentFiles --value docker.service 2>/dev/null | sed 's/ (ignore_errors=.*//'; "
        "for f in /etc/audit/rules.d/*.rules; do [ -e \"$f\" ] && echo \"$f\"; done; "
        "find /etc/docker/certs.d -type f 2>/dev/null; "
        # rootless dockerd of the login user
        "[ -n \"$HOME\" ] && [ -e \"$HOME/.config/docker/daemon.json\" ] && echo \"$HOME/.config/docker/daemon.json\"; true"
    ),
}
