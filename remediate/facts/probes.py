"""What we gather from a host, declared as data.

Round 1 reads every fixed path and runs every probe command in one batched
round trip; it also lists the paths that only the host can tell us (unit
drop-ins, EnvironmentFiles, audit rules.d files, a --config-file, TLS and
seccomp files named in daemon.json, the TLS files dockerd is configured with).
Round 2, only when round 1 found such paths that it did not read already,
reads them. An audit therefore costs at most two round trips, and one on a
host that runs the packaged units as they are; a third only when a file read
in round 2 (a daemon.json at a --config-file, an EnvironmentFile outside
FIXED_PATHS) names more: TLS files ($DOCKER_OPTS="--tlskey ..."), a seccomp profile.

Key material is never read: a path is_key_material() names gets a stat step
(owner, mode, size, mtime, device, inode) that never opens the file, so no
private key or certificate ever leaves its host, nor reaches saved facts,
plans, results or reports.

On a fleet of small hosts the hosts' CPU is what a run waits for, so a probe
never asks twice: one `systemctl show` answers for every unit (split per unit
into the `service`, `socket` and `falco` facts), later snippets read what an
earlier probe printed (MainPID, `docker info`) instead of running it again,
and `dockerd --version` (the costliest probe) runs only when the binary on
disk is not the one running, whose version `docker info` already told.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection

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
    # Where the packages install the units (Debian and older Ubuntu; Ubuntu 24.04, RHEL, Fedora, SUSE):
    # read with round 1, so a host without drop-ins needs no round 2. A missing path costs no process.
    "/lib/systemd/system/docker.service",
    "/lib/systemd/system/docker.socket",
    "/usr/lib/systemd/system/docker.service",
    "/usr/lib/systemd/system/docker.socket",
)

SERVICE_PROPS = (
    "FragmentPath,DropInPaths,ExecStart,Environment,EnvironmentFiles,ActiveState,SubState,MainPID,Result,LoadState,"
    "UnitFileState"
)
SOCKET_PROPS = "FragmentPath,DropInPaths,Listen,SocketMode,SocketUser,SocketGroup,ActiveState,LoadState,UnitFileState"
# Fact name -> (unit, the properties that fact holds); one `systemctl show` asks for all of them.
UNIT_FACTS = {"service": ("docker.service", SERVICE_PROPS), "socket": ("docker.socket", SOCKET_PROPS)}
# Runtime security monitors: the `falco` fact lists their ActiveState, as `systemctl is-active` would.
FALCO_UNITS = ("falco.service", "falco-modern-bpf.service", "falco-kmod.service", "falco-bpf.service")
ALL_PROPS = ",".join(dict.fromkeys(f"{SERVICE_PROPS},{SOCKET_PROPS}".split(",")))

# The binaries CIS 1.1.x wants audited; resolved to real paths on the host.
AUDITED_BINARIES = (
    "dockerd",
    "docker",
    "containerd",
    "containerd-shim",
    "containerd-shim-runc-v1",
    "containerd-shim-runc-v2",
    "runc",
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
    '"Healthcheck":{{json (index .Config "Healthcheck")}},"AppArmorProfile":{{json .AppArmorProfile}},'
    '"CpuShares":{{json .HostConfig.CpuShares}},"RestartPolicy":{{json .HostConfig.RestartPolicy}},'
    '"CgroupParent":{{json .HostConfig.CgroupParent}},"CapDrop":{{json .HostConfig.CapDrop}},'
    '"PublishAllPorts":{{json .HostConfig.PublishAllPorts}},"ExposedPorts":{{json (index .Config "ExposedPorts")}},'
    '"Ports":{{json .NetworkSettings.Ports}},"Ulimits":{{json .HostConfig.Ulimits}},"Path":{{json .Path}},'
    '"ExecIDs":{{json .ExecIDs}},"Networks":{{json .NetworkSettings.Networks}},'
    # which image it runs, by id (its Config.Image is a name a later tag may have moved): CIS 4 judges those images
    '"ImageId":{{json .Image}}}'
)

# Images (CIS 4, 6.1): the fields their checks need, and nothing else: never .Config.Env. An image's Config is
# a map to the template: a key it lacks is read with `index` (null), not as a field (an error).
IMAGE_TEMPLATE = (
    '{"Id":{{json .Id}},"RepoTags":{{json .RepoTags}},"RepoDigests":{{json .RepoDigests}},'
    '"Created":{{json .Created}},"User":{{if .Config}}{{json (index .Config "User")}}{{else}}null{{end}},'
    '"Healthcheck":{{if .Config}}{{json (index .Config "Healthcheck")}}{{else}}null{{end}}}'
)
# Swarm (CIS 7): overlay networks (encrypted option), services' published ports and secret references.
NETWORK_TEMPLATE = (
    '{"Name":{{json .Name}},"Id":{{json .Id}},"Scope":{{json .Scope}},"Ingress":{{json .Ingress}},'
    '"Options":{{json .Options}}}'
)
# A service is a struct to the template (not a map): fields, and `with` for the pointer a plugin service leaves nil.
SERVICE_TEMPLATE = (
    '{"Name":{{json .Spec.Name}},"Ports":{{json .Endpoint.Ports}},'
    '"Secrets":{{with .Spec.TaskTemplate.ContainerSpec}}{{json .Secrets}}{{else}}null{{end}}}'
)

# name -> argv. Each runs with PATH_PREFIX; rc 127 means "not installed".
COMMANDS: dict[str, list[str]] = {
    # One block per unit, in this order, blank-line separated; gather splits it (UNIT_FACTS, FALCO_UNITS).
    "systemd": ["systemctl", "show", *(unit for unit, _ in UNIT_FACTS.values()), *FALCO_UNITS, "-p", ALL_PROPS],
    "listeners": ["ss", "-Hltnp"],
    "docker_group": ["getent", "group", "docker"],
    "dockremap_user": ["getent", "passwd", "dockremap"],
    "auditctl": ["auditctl", "-l"],
    "apparmor": ["cat", "/sys/module/apparmor/parameters/enabled"],
    "selinux": ["getenforce"],
    "ip_forward": ["sysctl", "-n", "net.ipv4.ip_forward"],
    "id": ["id", "-un"],
    "docker_root_mount": ["findmnt", "-n", "-o", "TARGET", "-T", "/var/lib/docker"],
}


def _service_prop(var: str, prop: str) -> str:
    """Shell that sets $var to docker.service's PROP from the `systemd` probe (the first block, up to its blank
    line), with builtins only: no process for what the probe already printed."""
    return (
        f'{var}=; while IFS= read -r l; do [ -n "$l" ] || break; '
        f'case $l in {prop}=*) {var}=${{l#{prop}=}};; esac; done < "$UNITS"; '
    )


_MAIN_PID = _service_prop("pid", "MainPID")

# Trusted snippets (our text, no host-supplied values inside). A snippet named in
# SNIPPET_INPUTS gets the path of an earlier probe's output in a variable; one named in SNIPPET_HANDOFFS the
# prefix of the files an earlier probe left for it ($HANDOFF in that probe); SNIPPET_ENV's values are data.
SNIPPET_INPUTS: dict[str, dict[str, str]] = {
    "dockerd_cmdline": {"UNITS": "systemd"},
    "dockerd_version": {"UNITS": "systemd", "INFO": "docker_info"},
    "containers": {"INFO": "docker_info"},
    "journal": {"UNITS": "systemd"},
    "audit_dirs": {"AUDITCTL": "auditctl"},
    "swarm_networks": {"INFO": "docker_info"},
    "swarm_services": {"INFO": "docker_info"},
    "swarm_node": {"INFO": "docker_info"},
}
SNIPPET_HANDOFFS: dict[str, dict[str, str]] = {"images": {"LISTED": "containers"}}

# docker info's one line read by shell builtins (no process on hosts the snippets have nothing to ask): only a
# daemon's answer counts (parse.docker_info), and it starts with a non-empty ID.
_ANSWERED = (
    'i=; IFS= read -r i < "$INFO" 2>/dev/null; case $i in \'{"ID":""\'*) exit 0;; \'{"ID":"\'*) ;; *) exit 0;; esac; '
)
# The swarm snippets run on a node docker info says is in a swarm (every state but inactive: parse.in_swarm).
_IN_SWARM = (
    _ANSWERED + 'case $i in *\'"LocalNodeState":"inactive"\'*) exit 0;; '
    '*\'"LocalNodeState":"\'[a-z]*) ;; *) exit 0;; esac; '
)

SNIPPETS: dict[str, str] = {
    # What the running dockerd says, as `docker info --format '{{json .}}'` prints it (exit code kept), except
    # a swarm manager's root CA certificate (Swarm.Cluster.TLSInfo.TrustRoot): certificates never leave a host.
    "docker_info": (
        "i=$(docker info --format '{{json .}}'); r=$?; "
        'case $i in *\'"TrustRoot":"-\'*) '
        'i=$(printf \'%s\\n\' "$i" | sed \'s/"TrustRoot":"[^"]*"/"TrustRoot":"(not read: a certificate)"/\');; esac; '
        '[ -z "$i" ] || printf \'%s\\n\' "$i"; exit $r'
    ),
    "dockerd_cmdline": (
        _MAIN_PID + 'if [ -n "$pid" ] && [ "$pid" != 0 ]; then tr "\\0" "\\n" < "/proc/$pid/cmdline"; fi'
    ),
    # The running daemon's version when it runs the dockerd on PATH (not replaced since it started:
    # an upgraded binary reads "(deleted)"); otherwise ask the binary, as a restart would run it. Both paths
    # resolved by ONE readlink, the version read from docker info's line by builtins.
    "dockerd_version": (
        "b=$(command -v dockerd) || exit 127; "
        + _MAIN_PID
        + "n='\n'; "
        + 'if [ -n "$pid" ] && [ "$pid" != 0 ] && r=$(readlink -f -- "$b" "/proc/$pid/exe" 2>/dev/null) && '
        + '[ "${r%%"$n"*}" = "${r#*"$n"}" ]; then i=; IFS= read -r i < "$INFO" 2>/dev/null; '
        + 'case $i in *\'"ServerVersion":"\'*) v=${i#*\'"ServerVersion":"\'}; v=${v%%\'"\'*};; *) v=;; esac; '
        + '[ -n "$v" ] && { echo "Docker version $v (running)"; exit 0; }; fi; '
        + "exec dockerd --version"
    ),
    # Found on PATH by shell builtins and resolved by ONE readlink (a fork per binary costs more than
    # the rest of the snippet); one by one only if a binary vanished meanwhile, so a name is never
    # paired with another binary's path.
    "binaries": (
        "set -f; set --; IFS=:; for b in " + " ".join(AUDITED_BINARIES) + "; do for x in $PATH; do "
        'if [ -f "$x/$b" ] && [ -x "$x/$b" ]; then set -- "$@" "$x/$b"; break; fi; done; done; '
        "[ $# -gt 0 ] || exit 0; IFS='\n'; "
        'if r=$(readlink -f -- "$@"); then for t in $r; do printf "%s\\t%s\\n" "${1##*/}" "$t"; shift; done; '
        'else for p; do printf "%s\\t%s\\n" "${p##*/}" "$(readlink -f -- "$p")"; done; fi'
    ),
    # Containers and images in ONE `docker inspect` (a docker CLI start is the costliest process a probe runs): this
    # probe lists both, renders each object with CONTAINER_TEMPLATE or IMAGE_TEMPLATE (an object with a State is a
    # container; `index`, as an image's map has no such key), prints the containers and leaves the images to the
    # `images` probe in "$HANDOFF.*" (status, stderr, lines). Each kind is inspected alone, as before, when the
    # other has none (`docker inspect` asks dockerd for a container before an image: no such detour then), or when
    # the joint inspect fails (an object removed since it was listed), so each probe reports its own failure.
    # `docker info` already counted both; a kind is listed only when there are some. Only a daemon's answer counts:
    # with dockerd down, a 26.1+ client prints a zero-valued info whose ID is "" (parse.docker_info).
    "containers": (
        ': "${HANDOFF:?}"; i=; IFS= read -r i < "$INFO" 2>/dev/null; c=1; m=skip; '
        'case $i in \'{"ID":"\'[!\\"]*) '
        'case $i in \'{"ID":"\'*\'","Containers":0,"ContainersRunning":0,\'*) c=;; esac; '
        "case $i in *'\"Images\":0,'*) ;; *) m=;; esac;; esac; "
        'mids=; [ -n "$m" ] || { mids=$(docker images -q --no-trunc 2>"$HANDOFF.e") && m=0 || m=3; }; '
        'echo "$m" >"$HANDOFF.s"; [ "$m" = 0 ] || mids=; '
        'cids=; s=0; [ -z "$c" ] || cids=$(docker ps -aq --no-trunc) || s=3; [ "$s" = 0 ] || cids=; '
        '[ -n "$cids$mids" ] || exit $s; '
        'if [ -n "$cids" ] && [ -n "$mids" ] && '
        'docker inspect --format "{{if index . \\"State\\"}}$REMEDIATE_CONTAINER_TEMPLATE{{else}}image\t'
        '$REMEDIATE_IMAGE_TEMPLATE{{end}}" $cids $mids >"$HANDOFF.i" 2>/dev/null; then '
        "grep -v '^image\t' \"$HANDOFF.i\"; "
        'else [ -z "$mids" ] || docker image inspect --format "$REMEDIATE_IMAGE_TEMPLATE" $mids >"$HANDOFF.o" '
        '2>>"$HANDOFF.e" || echo 3 >"$HANDOFF.s"; '
        '[ -z "$cids" ] || docker inspect --format "$REMEDIATE_CONTAINER_TEMPLATE" $cids || exit; fi; '
        '[ -n "$cids" ] || exit $s; '
        # CIS 5.7: an sshd (or dropbear) anywhere on the host, one grep; for each (few), the container id in its
        # cgroup path, if any: "process<TAB>id<TAB>pid<TAB>name".
        'for f in $(grep -lxs -e sshd -e dropbear /proc/[0-9]*/comm); do d=${f%/comm}; read -r n < "$f" || continue; '
        "c=$(grep -om1 '[0-9a-f]\\{64\\}' \"$d/cgroup\" 2>/dev/null) || continue; "
        'printf \'process\\t%s\\t%s\\t%s\\n\' "$c" "${d#/proc/}" "$n"; done; '
        # The no-new-privileges dockerd recorded at each creation (config.v2.json, never in inspect): one grep,
        # of that one field (the file also holds the environment).
        'root=$(sed -n \'s/.*"DockerRootDir":"\\([^"]*\\)".*/\\1/p\' "$INFO" 2>/dev/null); '
        '[ -n "$root" ] || exit 0; set --; '
        'for id in $cids; do set -- "$@" "$root/containers/$id/config.v2.json"; done; '
        'grep -Hos \'"NoNewPrivileges":[a-z]*\' "$@"; true'
    ),
    # Every image (CIS 4, 6.1), as the containers probe listed and inspected them (only when docker info counted
    # some; the containers probe also tells which each container runs). An image listed once per tag is inspected
    # as often: parse.images keeps one (no pipe to sort, whose status would hide a failed listing).
    "images": (
        'm=; read -r m < "$LISTED.s" || exit 3; [ "$m" != skip ] || exit 0; '
        '[ ! -s "$LISTED.e" ] || cat -- "$LISTED.e" >&2; '
        'if [ -f "$LISTED.o" ]; then cat -- "$LISTED.o"; '
        'elif [ -f "$LISTED.i" ]; then sed -n \'s/^image\t//p\' "$LISTED.i"; fi; exit "$m"'
    ),
    "swarm_networks": (
        _IN_SWARM + "n=$(docker network ls -q --no-trunc --filter driver=overlay) || exit 3; "
        f"[ -z \"$n\" ] || docker network inspect --format '{NETWORK_TEMPLATE}' $n"
    ),
    # Services are a manager's to list (a worker's docker refuses).
    "swarm_services": (
        _IN_SWARM + "case $i in *'\"ControlAvailable\":true'*) ;; *) exit 0;; esac; "
        f"s=$(docker service ls -q) || exit 3; [ -z \"$s\" ] || docker service inspect --format '{SERVICE_TEMPLATE}' $s"
    ),
    # The node's own swarm addresses (advertise, listen, data path: CIS 7.9), which docker info does not show;
    # read from dockerd's state file, so a locked manager shows them too.
    "swarm_node": (
        _IN_SWARM + 'r=${i#*\'"DockerRootDir":"\'}; [ "$r" != "$i" ] || exit 3; r=${r%%\'"\'*}; '
        'exec cat "$r/swarm/docker-state.json"'
    ),
    # Only read to tell why docker.service is down (dockerd.journal.down_reason); an active one needs none.
    "journal": (
        _service_prop("state", "ActiveState")
        + '[ "$state" = active ] && exit 0; exec journalctl -u docker.service -n 40 --no-pager -o cat'
    ),
    "content_trust": (
        "grep -rsH DOCKER_CONTENT_TRUST /etc/environment /etc/profile /etc/profile.d /etc/bash.bashrc 2>/dev/null; true"
    ),
    # Who holds harden's lock (remediate.apply.protocol.BASE), so a plan can say a run holds or left it.
    "apply_lock": (
        "[ -d /var/lib/remediate/lock ] && { cat /var/lib/remediate/lock/owner 2>/dev/null || echo unknown holder; }; "
        "true"
    ),
    # The directory of every path an audit rule watches (`-w PATH`, `-F path=`/`dir=`, in the rules files and
    # in `auditctl -l`), as the host resolves it: "DIR<TAB>readlink -m DIR" a line, one readlink for all,
    # nothing (and no process) where there is no rule. A watch follows the links on the way to its last
    # name, not that name: /lib/systemd/system/docker.service is /usr/lib/... where /lib -> usr/lib.
    # The rules.d files are read here, in round 1, so their rules cost no round trip (gather reads them later).
    "audit_dirs": (
        "n='\n'; seen=$n; set --; "
        'for f in /etc/audit/audit.rules /etc/audit/rules.d/*.rules "$AUDITCTL"; do set -f; '
        '[ -f "$f" ] && while IFS= read -r l || [ -n "$l" ]; do p=; for w in $l; do '
        "case $w in '#'*) break;; esac; x=; "
        "case $p in -w) x=$w;; -F) case $w in path=*|dir=*) x=${w#*=};; esac;; esac; p=$w; "
        "case $x in /*) ;; *) continue;; esac; "
        "while :; do case $x in */) x=${x%/};; *) break;; esac; done; d=${x%/*}; d=${d:-/}; "
        'case $seen in *"$n$d$n"*) ;; *) seen=$seen$d$n; set -- "$@" "$d";; esac; '
        'done; done < "$f"; done; '
        '[ $# -gt 0 ] || exit 0; IFS=$n; r=$(readlink -m -- "$@") || exit 1; '
        # a resolution holding a newline would pair every later directory with another's: none then
        'c=0; for x in $r; do c=$((c + 1)); done; [ "$c" -eq $# ] || exit 1; '
        'for x in $r; do printf \'%s\\t%s\\n\' "$1" "$x"; shift; done'
    ),
    # Paths only the host knows, beyond the units' files (gather takes those from the `systemd` probe):
    # audit rules.d, registry certificates, a rootless daemon.json.
    "discovered_paths": (
        'for f in /etc/audit/rules.d/*.rules; do [ -e "$f" ] && echo "$f"; done; '
        "[ -d /etc/docker/certs.d ] && find /etc/docker/certs.d -type f 2>/dev/null; "
        # rootless dockerd of the login user
        '[ -n "$HOME" ] && [ -e "$HOME/.config/docker/daemon.json" ] && echo "$HOME/.config/docker/daemon.json"; true'
    ),
}
# Values a snippet gets as data (positional parameters assigned in its subshell), never as script text.
SNIPPET_ENV: dict[str, dict[str, str]] = {
    "containers": {"REMEDIATE_CONTAINER_TEMPLATE": CONTAINER_TEMPLATE, "REMEDIATE_IMAGE_TEMPLATE": IMAGE_TEMPLATE}
}


# --- key material: metadata only -------------------------------------------------------------------
# dockerd's TLS settings (daemon.json keys, --flags of the same names): the files they name are key material.
TLS_KEYS = ("tlscacert", "tlscert", "tlskey")
# Registry client certificates and keys (certs.d/<registry>/{ca.crt,client.cert,client.key}).
KEY_DIRS = ("/etc/docker/certs.d/",)
# Certificates, private keys and bundles, whatever directory holds them (compared in lower case).
KEY_SUFFIXES = (".key", ".pem", ".crt", ".cert", ".p12", ".pfx")
# dockerd's own identity key (libtrust, before 23.0): a private key in JSON.
KEY_FILES = ("/etc/docker/key.json",)


def is_key_material(path: str, named: Collection[str] = ()) -> bool:
    """True when the bytes at `path` may be a private key or certificate: such a path is only ever stat-ed.

    `named`: the TLS files the host's dockerd configuration names (gather.tls_files), whatever their names.
    """
    normal = posixpath.normpath(path)
    return (
        normal.startswith(KEY_DIRS)
        or normal in KEY_FILES
        or normal.lower().endswith(KEY_SUFFIXES)
        or normal in {posixpath.normpath(n) for n in named}
    )
