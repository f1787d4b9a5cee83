"""dockerd's options: flag spellings, daemon.json keys, value types, defaults.

Read from moby's source (cmd/dockerd/options.go, config.go, config_unix.go,
docker.go and daemon/config/config.go, 20.10 to 29.x). Three names matter:
- the flag (`--label`, `-H`);
- the *directive*: what dockerd's conflict check looks for in daemon.json —
  the flag's NamedOption name when it has one (--label → "labels",
  -H/--host → "hosts"), else the flag name;
- the JSON key that actually sets the value (the Go struct's json tag).
A daemon.json key passes dockerd's validation when it is a flag name or a
NamedOption name; it has an effect only when it is a JSON key too. Flag names
that are not JSON keys ("label", "host", "containerd-plugins-namespace",
top-level "http-proxy"...) are therefore accepted and silently ignored.

Which release has which key comes from data/daemon-json-keys.tsv (see
versions.KeyTable); only flags without a JSON key carry their own range here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .versions import KeyTable, Version


@dataclass(frozen=True)
class Option:
    flag: str  # long flag name, without dashes
    short: str | None  # shorthand letter
    kind: str  # bool, int, string, list, map, ulimits, pools, runtimes, bytes
    key: str  # directive: the daemon.json name dockerd's conflict check uses
    since: int | None = None  # first major release, for flags whose key is not in the key table
    until: int | None = None  # last major release, likewise

    @property
    def takes_value(self) -> bool:
        return self.kind != "bool"


# flag, short, kind, directive (when it differs from the flag), since, until
_TABLE = """
debug D bool
log-level l string
log-format - string
tls - bool
tlsverify - bool
tlscacert - string
tlscert - string
tlskey - string
host H list hosts
config-file - string - 1 -
validate - bool - 23 -
version v bool - 1 -
allow-nondistributable-artifacts - list
registry-mirror - list registry-mirrors
insecure-registry - list insecure-registries
storage-opt - list storage-opts
authorization-plugin - list authorization-plugins
exec-opt - list exec-opts
pidfile p string
data-root - string
graph g string
exec-root - string
containerd - string
cri-containerd - bool
default-network-opt - map default-network-opts
mtu - int
network-control-plane-mtu - int
network-diagnostic-port - int
raw-logs - bool
dns - list
dns-opt - list dns-opts
dns-search - list
host-gateway-ip - string
label - list labels
log-driver - string
log-opt - map log-opts
max-concurrent-downloads - int
max-concurrent-uploads - int
max-download-attempts - int
shutdown-timeout - int
swarm-default-advertise-addr - string
experimental - bool
metrics-addr - string
node-generic-resource - list node-generic-resources
containerd-namespace - string
containerd-plugins-namespace - string - 1 -
default-runtime - string
http-proxy - string - 23 -
https-proxy - string - 23 -
no-proxy - string - 23 -
api-cors-header - string
restart r bool - 1 -
cluster-advertise - string
cluster-store - string
cluster-store-opt - map cluster-store-opts
cdi-spec-dir - list cdi-spec-dirs
add-runtime - runtimes runtimes
group G string
storage-driver s string
selinux-enabled - bool
default-ulimit - ulimits default-ulimits
iptables - bool
ip6tables - bool
ip-forward - bool
ip-forward-no-drop - bool
ip-masq - bool
ipv6 - bool
bip - string
bip6 - string
bridge b string
bridge-accept-fwmark - string
fixed-cidr - string
fixed-cidr-v6 - string
default-gateway - string
default-gateway-v6 - string
icc - bool
ip - string
userland-proxy - bool
userland-proxy-path - string
cgroup-parent - string
userns-remap - string
live-restore - bool
init - bool
init-path - string
oom-score-adjust - int
cpu-rt-period - int
cpu-rt-runtime - int
seccomp-profile - string
default-shm-size - bytes
no-new-privileges - bool
default-ipc-mode - string
default-address-pool - pools default-address-pools
rootless - bool
default-cgroupns-mode - string
firewall-backend - string
"""


def _load() -> tuple[Option, ...]:
    options = []
    for row in _TABLE.strip().splitlines():
        flag, short, kind, *rest = row.split() + ["-"] * 3
        key, since, until = rest[:3]
        options.append(
            Option(
                flag=flag,
                short=None if short == "-" else short,
                kind=kind,
                key=flag if key == "-" else key,
                since=None if since == "-" else int(since),
                until=None if until == "-" else int(until),
            )
        )
    return tuple(options)


OPTIONS: tuple[Option, ...] = _load()

# Keys dockerd never checks against its flags (daemon/config/config.go skipValidateOptions).
SKIP_VALIDATION = frozenset({"features", "builder", "deprecated-key-path", "allow-nondistributable-artifacts"})

# Objects dockerd keeps whole; any other object's members are checked as if
# they were top-level keys (daemon/config/config.go flatOptions, configValuesSet).
FLAT_OBJECTS = frozenset(
    {"cluster-store-opts", "default-network-opts", "log-opts", "runtimes", "default-ulimits", "features", "builder"}
)

# Directives the conflict check skips because dockerd merges them.
MERGED = frozenset({"runtimes"})

# JSON types of the keys that have no flag of the same kind.
_EXTRA_KINDS = {
    "features": "bool-map",
    "builder": "object",
    "proxies": "object",
    "nri-opts": "object",
    "host-gateway-ips": "list",
    "deprecated-key-path": "string",
    "min-api-version": "string",
    "default-stop-timeout": "int",
}


def key_kind(key: str) -> str | None:
    """The JSON shape dockerd decodes `key` into, None when we do not know it."""
    for option in OPTIONS:
        if option.key == key:
            return option.kind
    return _EXTRA_KINDS.get(key)


def available(option: Option, column: int | None, version: Version | None) -> bool:
    """Whether this dockerd release has the flag (unknown release: any release does)."""
    table = KeyTable.load()
    if table.known(option.key):
        return table.valid(option.key, column)
    if version is None:
        return True
    return (option.since is None or version[0] >= option.since) and (option.until is None or version[0] <= option.until)


@cache
def options_for(column: int | None, version: Version | None) -> tuple[Option, ...]:
    """The flags this release has: the same few answers for every host of a fleet, so computed once each."""
    return tuple(o for o in OPTIONS if available(o, column, version))


def ignored_instead(key: str, options: tuple[Option, ...]) -> str | None:
    """For a flag name that is not a JSON key: the key that would work, if any."""
    for option in options:
        if option.flag == key and option.key != key and option.key in KeyTable.load().keys:
            return option.key
    return "proxies" if key in ("http-proxy", "https-proxy", "no-proxy") else None


def defaults(version: Version | None) -> dict[str, object]:
    """dockerd's built-in values for the settings the checks read.

    seccomp-profile is named as `docker info` shows it: "default" before 23.0,
    "builtin" from 23.0. ip6tables became on-by-default (and non-experimental) in 27.0.
    """
    modern = version is None or version[0] >= 23
    return {
        "debug": False,
        "log-level": "info",
        "log-driver": "json-file",
        "log-opts": {},
        "hosts": ["unix:///var/run/docker.sock"],
        "group": "docker",
        "tls": False,
        "tlsverify": False,
        "icc": True,
        "iptables": True,
        "ip6tables": version is not None and version[0] >= 27,
        "ip-forward": True,
        "ip-masq": True,
        "ipv6": False,
        "userland-proxy": True,
        "live-restore": False,
        "no-new-privileges": False,
        "experimental": False,
        "selinux-enabled": False,
        "seccomp-profile": "builtin" if modern else "default",
        "userns-remap": "",
        "cgroup-parent": "",
        "storage-driver": "",
        "storage-opts": [],
        "data-root": "/var/lib/docker",
        "exec-root": "/var/run/docker",
        "default-ulimits": {},
        "authorization-plugins": [],
        "insecure-registries": [],
        "registry-mirrors": [],
        "labels": [],
        "default-ipc-mode": "private",
        "raw-logs": False,
    }


# Keys a SIGHUP reload applies (daemon/reload.go); every other change needs a restart.
RELOADABLE = frozenset(
    {
        "debug",
        "labels",
        "live-restore",
        "insecure-registries",
        "registry-mirrors",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "shutdown-timeout",
        "default-runtime",
        "runtimes",
        "authorization-plugins",
        "default-shm-size",
        "default-ipc-mode",
        "default-cgroupns-mode",
        "allow-nondistributable-artifacts",
        "features",
    }
)
