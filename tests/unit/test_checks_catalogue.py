"""Every check of the catalogue, one PASS and one FAIL case each, on captured facts with one explicit edit.

Each case starts from facts captured on a lab host (tests/fixtures/facts/) and
changes one thing: a file's mode, a daemon.json key, a container field, a
command's output. `hardened` passes every configurable check, so a FAIL case
is hardened with one thing broken; `stock` and the other scenarios supply
failures as captured.

Statuses in the tables are the predicate's verdict. Under the default policy
an advisory check's FAIL is reported as WARN (with a line saying so): assert_outcome
checks that mapping instead of hiding it. NOT-APPLICABLE and INFO are listed
where they are the honest outcome (no containers, file absent, informational
checks); the meta-tests at the end say which checks may lack a real PASS or
FAIL, and why.

The docker-bench-security traps (FIELD-NOTES §3) have named tests below the tables.
"""

from __future__ import annotations

import pytest

from remediate.checks import CheckContext, catalogue, evaluate, select
from remediate.checks.model import FAIL, INFO, NA, PASS, WARN, Result
from remediate.policy import policy_for
from tests.facts_builder import DAEMON_JSON, Facts, container, fixture, hardened, mount, port, stock
from tests.unit.test_images_swarm_checks import IMAGES_SWARM_FAIL, IMAGES_SWARM_PASS

POLICY = policy_for({})

RULES = "/etc/audit/rules.d/docker.rules"
SERVICE_UNIT = "/lib/systemd/system/docker.service"
SOCKET_UNIT = "/lib/systemd/system/docker.socket"
DEFAULT_DOCKER = "/etc/default/docker"
SYSCONFIG = "/etc/sysconfig/docker"
DOCKER_SOCK = "/run/docker.sock"
CONTAINERD_SOCK = "/run/containerd/containerd.sock"
REGISTRY_CA = "/etc/docker/certs.d/registry.lab.invalid:5000/ca.crt"
TLS_PATHS = {
    "tlscacert": "/etc/docker/tls/ca.pem",
    "tlscert": "/etc/docker/tls/server-cert.pem",
    "tlskey": "/etc/docker/tls/server-key.pem",
}
DROP_IN = "/etc/systemd/system/docker.service.d/override.conf"
STOCK_ARGV = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"

# The checks CIS asks to judge by hand: they report INFO whatever the host.
NEVER_PASSES = {
    "1.2.1": "not assessable automatically",
    "4.5": "retired",
    "5.9": "lists published ports for review",
    "5.23": "dockerd keeps no record of past execs",
    "5.24": "dockerd keeps no record of past execs",
}
# Checks whose other outcome is INFO, not FAIL: a custom seccomp profile is optional (2.17), a ulimit override
# may be needed (5.19).
NEVER_FAILS = {
    **NEVER_PASSES,
    "2.17": "the default profile is fine: INFO, not FAIL",
    "5.19": "CIS: override the default ulimits if needed: listed for review",
}


# --- building blocks ------------------------------------------------------------------------


def with_container(**changes) -> Facts:
    """hardened, plus one container: safe except for `changes`."""
    return hardened().containers(container(**changes))


def with_drop_in(base: Facts, argv: str, path: str = DROP_IN) -> Facts:
    """A docker.service drop-in that replaces ExecStart, as systemd shows it and as the file says."""
    return base.add_file(path, f"[Service]\nExecStart=\nExecStart={argv}\n").service(DropInPaths=path).exec_start(argv)


def with_sysconfig(base: Facts) -> Facts:
    return base.add_file(SYSCONFIG, 'OPTIONS=""\n')


def with_tls(base: Facts) -> Facts:
    """tlsverify with CA, certificate and key in daemon.json; files root:root, certs 0444, key 0400."""
    return (
        base.daemon_json({"tlsverify": True, **TLS_PATHS})
        .add_file(TLS_PATHS["tlscacert"], "-----BEGIN CERTIFICATE-----\n", mode=0o444)
        .add_file(TLS_PATHS["tlscert"], "-----BEGIN CERTIFICATE-----\n", mode=0o444)
        .add_file(TLS_PATHS["tlskey"], "-----BEGIN PRIVATE KEY-----\n", mode=0o400)
    )


TCP = fixture("tcp-daemon-json")  # hosts: [unix socket, tcp://0.0.0.0:2375] (multi-line), no TLS
TLS = with_tls(TCP)  # the same endpoint with client verification
CERTS = hardened().add_file(REGISTRY_CA, "-----BEGIN CERTIFICATE-----\n", mode=0o444)
SYSCONFIG_AUDITED = with_sysconfig(hardened()).append(RULES, f"-w {SYSCONFIG} -k docker")
APPARMOR = hardened().command("apparmor", "Y\n", rc=0)
SELINUX = hardened().command("selinux", "Enforcing\n", rc=0).daemon_json({"selinux-enabled": True})
SAFE_ID = container()["Id"]


def with_probe_lines(base: Facts, *lines: str, **changes) -> Facts:
    """One container, plus lines the `containers` probe prints beside its inspect JSON."""
    inspect = base.containers(container(**changes)).facts.command("containers").stdout
    return base.command("containers", inspect + "".join(f"{line}\n" for line in lines), rc=0)


def with_recorded_nnp(base: Facts, value: str, **changes) -> Facts:
    """One container, plus the no-new-privileges dockerd recorded in its config.v2.json (the probe's grep line)."""
    grep = f'/var/lib/docker/165536.165536/containers/{SAFE_ID}/config.v2.json:"NoNewPrivileges":{value}'
    return with_probe_lines(base, grep, **changes)


NO_DOCKERD = stock().command("dockerd_version", "", rc=127).service(LoadState="not-found")

# 1.1.x: the path hardened's rules.d file watches for each check (binaries resolved on the host).
AUDITED_PATHS = {
    "1.1.3": "/usr/sbin/dockerd",
    "1.1.4": "/run/containerd",
    "1.1.5": "/var/lib/docker",
    "1.1.6": "/etc/docker",
    "1.1.7": SERVICE_UNIT,
    "1.1.8": CONTAINERD_SOCK,
    "1.1.9": SOCKET_UNIT,
    "1.1.10": DEFAULT_DOCKER,
    "1.1.11": DAEMON_JSON,
    "1.1.12": "/etc/containerd/config.toml",
    "1.1.14": "/usr/bin/containerd",
    "1.1.15": "/usr/bin/containerd-shim",
    "1.1.16": "/usr/bin/containerd-shim-runc-v1",
    "1.1.17": "/usr/bin/containerd-shim-runc-v2",
    "1.1.18": "/usr/sbin/runc",
}


def case(check: str, change: str, facts: Facts, status: str, evidence: str):
    return pytest.param(check, facts, status, evidence, id=f"{check} {change}")


# --- PASS cases (or the honest INFO of an informational check) ------------------------------

PASS_CASES = [
    # hardened's rules.d file lists the paths in AUDITED_PATHS order, one per line
    *(
        case(cid, "hardened: rules.d watches the exact path", hardened(), PASS, f"{RULES}:{n}: -w {path} -k docker")
        for n, (cid, path) in enumerate(AUDITED_PATHS.items(), 1)
    ),
    case(
        "1.1.13",
        "hardened + /etc/sysconfig/docker and its rule",
        SYSCONFIG_AUDITED,
        PASS,
        f"{RULES}:16: -w {SYSCONFIG} -k docker",
    ),
    case(
        "1.1.1",
        "hardened: /var/lib/docker is its own mount",
        hardened(),
        PASS,
        "on the filesystem mounted at /var/lib/docker",
    ),
    case("1.1.2", "hardened: docker group empty", hardened(), PASS, "the docker group has no members"),
    case("1.2.1", "hardened: informational", hardened(), INFO, "not assessed automatically"),
    case(
        "1.2.2",
        "dockerd 29.10.1, the newest 29 patch release",
        hardened().command("dockerd_version", "Docker version 29.10.1, build 0000000\n"),
        PASS,
        "Docker version 29.10.1",
    ),
    case(
        "2.1",
        "docker info says rootless",
        hardened().docker_info(SecurityOptions=["name=seccomp,profile=default", "name=rootless"]),
        PASS,
        "dockerd runs rootless",
    ),
    case("2.2", "hardened: icc false in daemon.json", hardened(), PASS, f"icc = false ({DAEMON_JSON}:2)"),
    case("2.3", "hardened: log-level info in daemon.json", hardened(), PASS, f"log-level = info ({DAEMON_JSON}:4)"),
    case(
        "2.3",
        "log-level INFO: dockerd reads it as info",
        hardened().daemon_json({"log-level": "INFO"}),
        PASS,
        "log-level = INFO",
    ),
    case("2.4", "hardened: iptables left at its default", hardened(), PASS, "iptables = true (dockerd default)"),
    case("2.5", "hardened: no insecure registry", hardened(), PASS, "insecure-registries = [] (dockerd default)"),
    case(
        "2.5",
        "only a loopback registry is insecure",
        hardened().daemon_json({"insecure-registries": ["127.0.0.1:5000"]}),
        PASS,
        '["127.0.0.1:5000"]',
    ),
    case("2.6", "hardened: overlay2", hardened(), PASS, "storage driver: overlay2"),
    case(
        "2.7",
        "tcp host with tlsverify + tlscacert/tlscert/tlskey",
        TLS,
        PASS,
        f"tcp://0.0.0.0:2375 (daemon.json hosts, {DAEMON_JSON}:4): TLS tlsverify",
    ),
    case("2.8", "hardened: default-ulimits set", hardened(), PASS, '"nofile": {"Name": "nofile"'),
    case("2.9", "hardened: userns-remap default", hardened(), PASS, f"userns-remap = default ({DAEMON_JSON}:10)"),
    case("2.10", "hardened: no cgroup-parent", hardened(), PASS, 'cgroup-parent = "" (dockerd default)'),
    case("2.11", "hardened: no storage-opts", hardened(), PASS, "storage-opts = [] (dockerd default)"),
    case(
        "2.11",
        "overlay2 size option, not dm.basesize",
        hardened().daemon_json({"storage-opts": ["overlay2.size=20G"]}),
        PASS,
        "overlay2.size=20G",
    ),
    case(
        "2.12",
        "an authorization plugin in daemon.json",
        hardened().daemon_json({"authorization-plugins": ["authz-broker"]}),
        PASS,
        '["authz-broker"]',
    ),
    case("2.13", "log-driver syslog", hardened().daemon_json({"log-driver": "syslog"}), PASS, "log-driver = syslog"),
    case("2.14", "hardened: no-new-privileges true", hardened(), PASS, f"no-new-privileges = true ({DAEMON_JSON}:5)"),
    case("2.15", "hardened: live-restore true", hardened(), PASS, f"live-restore = true ({DAEMON_JSON}:3)"),
    case("2.16", "hardened: userland-proxy false", hardened(), PASS, f"userland-proxy = false ({DAEMON_JSON}:9)"),
    case(
        "2.17",
        "custom seccomp profile in daemon.json",
        hardened()
        .daemon_json({"seccomp-profile": "/etc/docker/seccomp.json"})
        .add_file("/etc/docker/seccomp.json", '{"defaultAction": "SCMP_ACT_ERRNO"}\n'),
        PASS,
        "seccomp-profile = /etc/docker/seccomp.json",
    ),
    case("2.18", "hardened: experimental off", hardened(), PASS, "experimental = false (dockerd default)"),
    case("3.1", "hardened: unit root:root", hardened(), PASS, f"{SERVICE_UNIT}: owned by root:root"),
    case("3.2", "hardened: unit 0644", hardened(), PASS, f"{SERVICE_UNIT}: mode 0644, allowed at most 0644"),
    case("3.2", "stricter unit mode 0600", hardened().mode(SERVICE_UNIT, 0o600), PASS, "mode 0600"),
    case("3.3", "hardened: socket unit root:root", hardened(), PASS, f"{SOCKET_UNIT}: owned by root:root"),
    case("3.4", "hardened: socket unit 0644", hardened(), PASS, f"{SOCKET_UNIT}: mode 0644"),
    case("3.5", "hardened: /etc/docker root:root", hardened(), PASS, "/etc/docker: owned by root:root"),
    case("3.6", "hardened: /etc/docker 0755", hardened(), PASS, "/etc/docker: mode 0755, allowed at most 0755"),
    case("3.7", "registry CA root:root", CERTS, PASS, f"{REGISTRY_CA}: owned by root:root"),
    case("3.8", "registry CA 0444", CERTS, PASS, f"{REGISTRY_CA}: mode 0444, allowed at most 0444"),
    case("3.9", "TLS CA root:root", TLS, PASS, f"{TLS_PATHS['tlscacert']}: owned by root:root"),
    case("3.10", "TLS CA 0444", TLS, PASS, f"{TLS_PATHS['tlscacert']}: mode 0444"),
    case("3.11", "server cert root:root", TLS, PASS, f"{TLS_PATHS['tlscert']}: owned by root:root"),
    case("3.12", "server cert 0444", TLS, PASS, f"{TLS_PATHS['tlscert']}: mode 0444"),
    case("3.13", "server key root:root", TLS, PASS, f"{TLS_PATHS['tlskey']}: owned by root:root"),
    case("3.14", "server key 0400", TLS, PASS, f"{TLS_PATHS['tlskey']}: mode 0400, allowed at most 0400"),
    case("3.15", "hardened: docker.sock root:docker", hardened(), PASS, f"{DOCKER_SOCK}: owned by root:docker"),
    case("3.16", "hardened: docker.sock 0660", hardened(), PASS, f"{DOCKER_SOCK}: mode 0660"),
    case("3.17", "hardened: daemon.json root:root", hardened(), PASS, f"{DAEMON_JSON}: owned by root:root"),
    case("3.18", "hardened: daemon.json 0644", hardened(), PASS, f"{DAEMON_JSON}: mode 0644"),
    case("3.19", "hardened: /etc/default/docker root:root", hardened(), PASS, f"{DEFAULT_DOCKER}: owned by root:root"),
    case("3.20", "hardened: /etc/default/docker 0644", hardened(), PASS, f"{DEFAULT_DOCKER}: mode 0644"),
    case("3.21", "/etc/sysconfig/docker 0644", with_sysconfig(hardened()), PASS, f"{SYSCONFIG}: mode 0644"),
    case(
        "3.22", "/etc/sysconfig/docker root:root", with_sysconfig(hardened()), PASS, f"{SYSCONFIG}: owned by root:root"
    ),
    case("3.23", "hardened: containerd.sock root:root", hardened(), PASS, f"{CONTAINERD_SOCK}: owned by root:root"),
    case("3.24", "hardened: containerd.sock 0660", hardened(), PASS, f"{CONTAINERD_SOCK}: mode 0660"),
    case("4.1", "container runs as 1000:1000", with_container(), PASS, "1 container(s): none runs as root"),
    case("5.1", "hardened: swarm inactive", hardened(), PASS, "swarm LocalNodeState=inactive"),
    case(
        "5.2",
        "AppArmor on, docker-default profile",
        APPARMOR.containers(container()),
        PASS,
        "AppArmor profiles applied",
    ),
    case(
        "5.3",
        "SELinux enforcing, label type set",
        SELINUX.containers(container(SecurityOpt=["no-new-privileges:true", "label=type:container_t"])),
        PASS,
        "SELinux options set",
    ),
    case(
        "5.3",
        "SELinux enforcing, selinux-enabled: dockerd labels the container itself",
        SELINUX.containers(container()),
        PASS,
        "labelled by dockerd",
    ),
    case("5.4", "no added capability", with_container(), PASS, "no added capabilities"),
    case(
        "5.4",
        "--cap-drop ALL --cap-add NET_BIND_SERVICE (the remediation)",
        with_container(CapDrop=["ALL"], CapAdd=["NET_BIND_SERVICE"]),
        PASS,
        "no added capabilities beyond",
    ),
    case(
        "5.4",
        "default capabilities named cap_chown, CAP_KILL",
        with_container(CapAdd=["cap_chown", "CAP_KILL"]),
        PASS,
        "Docker's default set",
    ),
    case("5.7", "main process is not sshd", with_container(), PASS, "no sshd: neither a main process nor"),
    case("5.5", "not privileged", with_container(), PASS, "none privileged"),
    case(
        "5.6",
        "/etc mounted read-only",
        with_container(Mounts=[mount("/etc", rw=False)]),
        PASS,
        "no sensitive host directory mounted read-write",
    ),
    case("5.8", "published on 8080", with_container(), PASS, "no privileged port published"),
    case("5.9", "nothing published", with_container(PortBindings={}), INFO, "no published ports"),
    case("5.10", "default network", with_container(), PASS, "none shares the host network"),
    case("5.11", "256 MiB memory limit", with_container(), PASS, "all have memory limits"),
    case("5.12", "cpu-shares 512", with_container(), PASS, "CPU shares set"),
    case("5.13", "read-only root filesystem", with_container(), PASS, "read-only root filesystems"),
    case("5.14", "published on 10.0.0.5 only", with_container(), PASS, "ports bound to specific interfaces"),
    case("5.15", "on-failure:5", with_container(), PASS, "restart policies bounded"),
    case("5.16", "own PID namespace", with_container(), PASS, "none shares the host PID namespace"),
    case("5.17", "private IPC", with_container(), PASS, "none shares the host IPC namespace"),
    case("5.18", "no device", with_container(), PASS, "no host devices"),
    case("5.19", "no ulimit override", with_container(), PASS, "none overrides the daemon's default ulimits"),
    # dockerd copies its default-ulimits into HostConfig.Ulimits when it creates a container (seen on 28.5)
    case(
        "5.19",
        "hardened: the daemon's default nofile, as dockerd recorded it",
        with_container(Ulimits=[{"Name": "nofile", "Soft": 65536, "Hard": 65536}]),
        PASS,
        "none overrides the daemon's default ulimits",
    ),
    case("5.20", "rprivate mount", with_container(), PASS, "no shared propagation"),
    case("5.21", "own UTS namespace", with_container(), PASS, "none shares the host UTS namespace"),
    case("5.22", "default seccomp", with_container(), PASS, "seccomp profile in force"),
    case("5.23", "no exec session tracked", with_container(), INFO, "leaves no record on the host"),
    case(
        "5.24",
        "an exec session dockerd still tracks",
        with_container(ExecIDs=["e1"]),
        INFO,
        "web (running): 1 exec session(s) dockerd still tracks",
    ),
    case("5.25", "no cgroup parent", with_container(), PASS, "default cgroups"),
    case(
        "5.26",
        "daemon-wide, recorded in the container at its creation",
        with_recorded_nnp(hardened(), "true", SecurityOpt=None),
        PASS,
        "all set no-new-privileges",
    ),
    case(
        "5.26",
        "stock daemon, container sets no-new-privileges:true",
        stock().containers(container()),
        PASS,
        "all set no-new-privileges",
    ),
    case("5.27", "health check defined", with_container(), PASS, "health checks defined"),
    case("5.28", "image by digest", with_container(), PASS, "every image named by a version tag, a digest or its ID"),
    case(
        "5.28", "image by version tag", with_container(Image="registry.lab.invalid:5000/web:1.27"), PASS, "version tag"
    ),
    case("5.28", "image by its full ID", with_container(Image="sha256:" + "ab" * 32), PASS, "version tag"),
    case("5.29", "pids-limit 100", with_container(), PASS, "PIDs limits set"),
    case("5.30", "on a user-defined network", with_container(), PASS, "none on the default bridge docker0"),
    case("5.31", "own user namespace", with_container(), PASS, "none shares the host user namespace"),
    case("5.32", "no socket mounted", with_container(), PASS, "docker.sock not mounted"),
    case("REM-CONFIG", "hardened: daemon.json consistent", hardened(), PASS, "consistent for this version"),
    case("REM-IMAGE-DIGEST", "running container by digest", with_container(), PASS, "pinned by digest"),
    case(
        "REM-IMAGE-DIGEST",
        "a created container is not running anything",
        with_container(Image="web", Status="created"),
        PASS,
        "pinned by digest",
    ),
    case("REM-RUNNING", "hardened: active", hardened(), PASS, "docker.service is active"),
    case("REM-DRIFT", "hardened: nothing pending", hardened(), PASS, "the running daemon matches its configuration"),
    case("REM-TCP", "hardened: unix socket only", hardened(), PASS, "no TCP endpoint in daemon.json hosts"),
    case("REM-TCP", "tcp host with tlsverify and a CA", TLS, PASS, "TLS tlsverify"),
    case(
        "REM-SOCK-MOUNT",
        "no socket or directory above one mounted",
        with_container(),
        PASS,
        "docker.sock not mounted, nor containerd's socket, nor a directory above them",
    ),
    case(
        "REM-CONTENT-TRUST",
        "hardened: retired content trust not set",
        hardened(),
        PASS,
        "DOCKER_CONTENT_TRUST is not set system-wide",
    ),
    case("4.5", "retired: information only", hardened(), INFO, "retired"),
    case(
        "REM-RUNTIME-MONITOR",
        "falco active",
        hardened().command("falco", "active\ninactive\ninactive\ninactive\n", rc=0),
        PASS,
        "Falco is active",
    ),
    case(
        "REM-SANDBOX-RUNTIME",
        "runsc registered",
        hardened().docker_info(Runtimes={"runc": {"path": "runc"}, "runsc": {"path": "/usr/bin/runsc"}}),
        PASS,
        "sandboxed: runsc",
    ),
    case("REM-MAC", "AppArmor enabled", APPARMOR, PASS, "AppArmor: enabled"),
    case("REM-MAC", "SELinux enforcing", SELINUX, PASS, "SELinux: Enforcing"),
    case("REM-SECCOMP", "hardened: default profile", hardened(), PASS, "seccomp profile: default"),
    case("REM-IP-FORWARD", "hardened: forwarding on", hardened(), PASS, "net.ipv4.ip_forward = 1"),
    case(
        "REM-SUBID-OVERLAP",
        "hardened: ops and dockremap apart",
        hardened(),
        PASS,
        "/etc/subuid: 2 user(s), no shared ids",
    ),
]


# --- FAIL cases (or NOT-APPLICABLE / INFO where that is the honest outcome) -----------------

FAIL_CASES = [
    *(
        case(
            cid,
            "hardened without its rule",
            hardened().without_line(RULES, f"-w {path} -k docker"),
            FAIL,
            f"no audit rule watches {path} exactly",
        )
        for cid, path in AUDITED_PATHS.items()
    ),
    case(
        "1.1.13",
        "/etc/sysconfig/docker exists, no rule",
        with_sysconfig(hardened()),
        FAIL,
        f"no audit rule watches {SYSCONFIG} exactly",
    ),
    case("1.1.13", "hardened: /etc/sysconfig/docker absent", hardened(), NA, f"{SYSCONFIG} does not exist"),
    case("1.1.11", "stock: no daemon.json", stock(), NA, f"{DAEMON_JSON} does not exist"),
    case(
        "1.1.16",
        "runc-v1 shim not installed",
        hardened().command("binaries", "dockerd\t/usr/sbin/dockerd\ncontainerd\t/usr/bin/containerd\n"),
        NA,
        "containerd-shim-runc-v1 does not exist",
    ),
    case(
        "1.1.6",
        "only daemon.json inside /etc/docker watched (substring is no match)",
        hardened().text(RULES, f"-w {DAEMON_JSON} -k docker\n"),
        FAIL,
        "no audit rule watches /etc/docker exactly",
    ),
    case(
        "1.1.1",
        "/var/lib/docker on the root filesystem",
        hardened().command("docker_root_mount", "/\n"),
        FAIL,
        "mounted at /",
    ),
    case(
        "1.1.1",
        "findmnt gave nothing",
        hardened().command("docker_root_mount", "", rc=1),
        INFO,
        "could not tell which filesystem",
    ),
    case(
        "1.1.2",
        "two users in the docker group",
        hardened().command("docker_group", "docker:x:103:alice,bob\n"),
        FAIL,
        "root-equivalent): alice, bob",
    ),
    case("1.2.1", "stock: informational", stock(), INFO, "not assessed automatically"),
    case("1.2.2", "hardened as captured: 20.10", hardened(), FAIL, "Docker version 20.10.24+dfsg1"),
    case("1.2.2", "dockerd not installed", NO_DOCKERD, NA, "dockerd is not installed"),
    case("2.1", "hardened: dockerd runs as root", hardened(), FAIL, "dockerd runs as root"),
    case(
        "2.2", "icc true in daemon.json", hardened().daemon_json({"icc": True}), FAIL, f"icc = true ({DAEMON_JSON}:2)"
    ),
    case("2.2", "stock: icc left at its default", stock(), FAIL, "icc = true (dockerd default)"),
    case("2.2", "dockerd not installed", NO_DOCKERD, NA, "dockerd is not installed"),
    case(
        "2.3",
        "log-level warn in daemon.json",
        hardened().daemon_json({"log-level": "warn"}),
        FAIL,
        f"log-level = warn ({DAEMON_JSON}:4)",
    ),
    case(
        "2.3",
        "custom-settings: debug true overrides log-level",
        fixture("custom-settings"),
        FAIL,
        "debug overrides log-level",
    ),
    case(
        "2.4",
        "iptables false in daemon.json",
        hardened().daemon_json({"iptables": False}),
        FAIL,
        f"iptables = false ({DAEMON_JSON}",
    ),
    case("2.5", "custom-settings: an insecure registry", fixture("custom-settings"), FAIL, "registry.lab.invalid:5000"),
    case(
        "2.6", "storage-driver aufs", hardened().daemon_json({"storage-driver": "aufs"}), FAIL, "storage driver: aufs"
    ),
    case("2.7", "tcp-daemon-json as captured: no TLS", TCP, FAIL, f"{DAEMON_JSON}:4): TLS none"),
    case(
        "2.7",
        "tls without tlsverify: dockerd verifies clients",
        TCP.daemon_json({"tls": True, **TLS_PATHS}),
        PASS,
        "TLS tlsverify",
    ),
    case(
        "2.7",
        "tls with tlsverify false",
        TCP.daemon_json({"tls": True, "tlsverify": False, **TLS_PATHS}),
        FAIL,
        "TLS tls; TLS without client verification",
    ),
    case(
        "2.7", "tlsverify without tlscacert", TCP.daemon_json({"tlsverify": True}), FAIL, "tlsverify without tlscacert"
    ),
    case(
        "2.7",
        "tcp-docker-opts: -H tcp in DOCKER_OPTS",
        fixture("tcp-docker-opts"),
        FAIL,
        f"{DEFAULT_DOCKER}:14 (DOCKER_OPTS)): TLS none",
    ),
    case("2.7", "hardened: unix socket only", hardened(), NA, "no TCP endpoint"),
    case(
        "2.8",
        "default-ulimits removed",
        hardened().daemon_json({"default-ulimits": None}),
        FAIL,
        "default-ulimits = {} (dockerd default)",
    ),
    case(
        "2.9",
        "userns-remap removed",
        hardened().daemon_json({"userns-remap": None}),
        FAIL,
        'userns-remap = "" (dockerd default)',
    ),
    case(
        "2.10",
        "cgroup-parent in daemon.json",
        hardened().daemon_json({"cgroup-parent": "/custom"}),
        FAIL,
        "cgroup-parent = /custom",
    ),
    case(
        "2.11",
        "dm.basesize in storage-opts",
        hardened().daemon_json({"storage-opts": ["dm.basesize=20G"]}),
        FAIL,
        "dm.basesize=20G",
    ),
    case("2.12", "hardened: no authorization plugin", hardened(), FAIL, "authorization-plugins = [] (dockerd default)"),
    case("2.13", "hardened: local json-file logs", hardened(), FAIL, "log-driver = json-file (dockerd default)"),
    case(
        "2.14",
        "no-new-privileges removed",
        hardened().daemon_json({"no-new-privileges": None}),
        FAIL,
        "no-new-privileges = false (dockerd default)",
    ),
    case(
        "2.15",
        "live-restore false",
        hardened().daemon_json({"live-restore": False}),
        FAIL,
        f"live-restore = false ({DAEMON_JSON}:3)",
    ),
    case(
        "2.16",
        "userland-proxy removed",
        hardened().daemon_json({"userland-proxy": None}),
        FAIL,
        "userland-proxy = true (dockerd default)",
    ),
    case(
        "2.17",
        "hardened: built-in profile (named 'default' on 20.10)",
        hardened(),
        INFO,
        "the default seccomp profile applies",
    ),
    case(
        "2.18",
        "experimental true",
        hardened().daemon_json({"experimental": True}),
        FAIL,
        f"experimental = true ({DAEMON_JSON}",
    ),
    case(
        "3.1",
        "unit owned by ops",
        hardened().owner(SERVICE_UNIT, "ops:ops"),
        FAIL,
        f"{SERVICE_UNIT}: owned by ops:ops, expected root:root",
    ),
    case(
        "3.2",
        "loose-perms: drop-in 0666",
        fixture("loose-perms"),
        FAIL,
        "docker.service.d/limits.conf: mode 0666, allowed at most 0644 (extra bits 0022)",
    ),
    case(
        "3.3",
        "socket unit group ops",
        hardened().owner(SOCKET_UNIT, "root:ops"),
        FAIL,
        f"{SOCKET_UNIT}: owned by root:ops",
    ),
    case("3.4", "socket unit 0664", hardened().mode(SOCKET_UNIT, 0o664), FAIL, "extra bits 0020"),
    case(
        "3.5",
        "/etc/docker owned by ops",
        hardened().owner("/etc/docker", "ops:root"),
        FAIL,
        "/etc/docker: owned by ops:root",
    ),
    case("3.6", "loose-perms: /etc/docker 0777", fixture("loose-perms"), FAIL, "/etc/docker: mode 0777"),
    case(
        "3.7", "registry CA owned by ops", CERTS.owner(REGISTRY_CA, "ops:ops"), FAIL, f"{REGISTRY_CA}: owned by ops:ops"
    ),
    case("3.7", "hardened: no certs.d", hardened(), NA, "certs.d: not present"),
    case("3.8", "registry CA 0644", CERTS.mode(REGISTRY_CA, 0o644), FAIL, "mode 0644, allowed at most 0444"),
    case(
        "3.9", "TLS CA owned by ops", TLS.owner(TLS_PATHS["tlscacert"], "ops:root"), FAIL, "ca.pem: owned by ops:root"
    ),
    case("3.9", "hardened: no tlscacert", hardened(), NA, "tlscacert: not present"),
    case("3.10", "TLS CA 0644", TLS.mode(TLS_PATHS["tlscacert"], 0o644), FAIL, "ca.pem: mode 0644"),
    case(
        "3.11",
        "server cert group ops",
        TLS.owner(TLS_PATHS["tlscert"], "root:ops"),
        FAIL,
        "server-cert.pem: owned by root:ops",
    ),
    case("3.12", "server cert 0664", TLS.mode(TLS_PATHS["tlscert"], 0o664), FAIL, "server-cert.pem: mode 0664"),
    case(
        "3.13",
        "server key owned by ops",
        TLS.owner(TLS_PATHS["tlskey"], "ops:ops"),
        FAIL,
        "server-key.pem: owned by ops:ops",
    ),
    case(
        "3.14",
        "server key 0440",
        TLS.mode(TLS_PATHS["tlskey"], 0o440),
        FAIL,
        "server-key.pem: mode 0440, allowed at most 0400 (extra bits 0040)",
    ),
    case(
        "3.15",
        "docker.sock group root",
        hardened().owner(DOCKER_SOCK, "root:root"),
        FAIL,
        f"{DOCKER_SOCK}: owned by root:root, expected root:docker",
    ),
    case("3.16", "loose-perms: docker.sock 0666", fixture("loose-perms"), FAIL, f"{DOCKER_SOCK}: mode 0666"),
    case(
        "3.17",
        "daemon.json owned by ops",
        hardened().owner(DAEMON_JSON, "ops:ops"),
        FAIL,
        f"{DAEMON_JSON}: owned by ops:ops",
    ),
    case("3.17", "stock: no daemon.json", stock(), NA, "daemon.json: not present"),
    case("3.18", "loose-perms: daemon.json 0666", fixture("loose-perms"), FAIL, f"{DAEMON_JSON}: mode 0666"),
    case(
        "3.19",
        "/etc/default/docker owned by ops",
        hardened().owner(DEFAULT_DOCKER, "ops:root"),
        FAIL,
        f"{DEFAULT_DOCKER}: owned by ops:root",
    ),
    case(
        "3.20", "/etc/default/docker 0664", hardened().mode(DEFAULT_DOCKER, 0o664), FAIL, f"{DEFAULT_DOCKER}: mode 0664"
    ),
    case("3.20", "/etc/default/docker absent", hardened().remove_file(DEFAULT_DOCKER), NA, "not present"),
    case(
        "3.21",
        "/etc/sysconfig/docker 0666",
        with_sysconfig(hardened()).mode(SYSCONFIG, 0o666),
        FAIL,
        f"{SYSCONFIG}: mode 0666",
    ),
    case("3.21", "hardened: /etc/sysconfig/docker absent", hardened(), NA, f"{SYSCONFIG}: not present"),
    case(
        "3.22",
        "/etc/sysconfig/docker owned by ops",
        with_sysconfig(hardened()).owner(SYSCONFIG, "ops:ops"),
        FAIL,
        f"{SYSCONFIG}: owned by ops:ops",
    ),
    case(
        "3.23",
        "containerd.sock group docker",
        hardened().owner(CONTAINERD_SOCK, "root:docker"),
        FAIL,
        f"{CONTAINERD_SOCK}: owned by root:docker, expected root:root",
    ),
    case(
        "3.24", "containerd.sock 0666", hardened().mode(CONTAINERD_SOCK, 0o666), FAIL, f"{CONTAINERD_SOCK}: mode 0666"
    ),
    case("4.1", "no user set", with_container(User=""), FAIL, "web (running): runs as root (no user set)"),
    case("4.1", "user 0:0", with_container(User="0:0"), FAIL, "runs as 0"),
    case("4.1", "hardened: no containers", hardened(), NA, "no containers on this host"),
    case(
        "4.1", "dockerd not answering", hardened().command("containers", "", rc=3), NA, "containers could not be listed"
    ),
    case(
        "5.1",
        "swarm active",
        hardened().docker_info(Swarm={"LocalNodeState": "active"}),
        FAIL,
        "swarm LocalNodeState=active",
    ),
    case(
        "5.1",
        "swarm locked (autolock, after a restart)",
        hardened().docker_info(Swarm={"LocalNodeState": "locked"}),
        FAIL,
        "swarm LocalNodeState=locked",
    ),
    case(
        "5.1",
        "swarm pending",
        hardened().docker_info(Swarm={"LocalNodeState": "pending"}),
        FAIL,
        "swarm LocalNodeState=pending",
    ),
    case("5.1", "docker info unanswered", hardened().command("docker_info", "", rc=1), NA, "dockerd is not answering"),
    case(
        "5.2",
        "AppArmor on, container unconfined",
        APPARMOR.containers(container(AppArmorProfile="unconfined")),
        FAIL,
        "web (running): no AppArmor profile",
    ),
    case("5.2", "hardened: AppArmor off", with_container(), NA, "AppArmor is not enabled"),
    case(
        "5.3",
        "SELinux enforcing, dockerd without selinux-enabled",
        hardened().command("selinux", "Enforcing\n", rc=0).containers(container()),
        FAIL,
        "selinux-enabled = False (dockerd default): dockerd gives containers no SELinux label",
    ),
    case(
        "5.3",
        "SELinux permissive only logs",
        SELINUX.command("selinux", "Permissive\n").containers(container()),
        FAIL,
        "SELinux is Permissive",
    ),
    case(
        "5.3",
        "SELinux enforcing, label:disable",
        SELINUX.containers(container(SecurityOpt=["label:disable"])),
        FAIL,
        "SELinux separation disabled (label=disable)",
    ),
    case("5.3", "hardened: SELinux not installed", with_container(), NA, "SELinux is not enabled"),
    case("5.4", "cap-add SYS_ADMIN", with_container(CapAdd=["SYS_ADMIN"]), FAIL, "adds capabilities SYS_ADMIN"),
    case("5.4", "cap-add ALL", with_container(CapAdd=["ALL"]), FAIL, "adds ALL capabilities"),
    case(
        "5.4",
        "cap_sys_admin after --cap-drop ALL",
        with_container(CapDrop=["ALL"], CapAdd=["cap_sys_admin"]),
        FAIL,
        "adds capabilities SYS_ADMIN",
    ),
    case(
        "5.7",
        "sshd as the main process",
        with_container(Path="/usr/sbin/sshd"),
        FAIL,
        "web (running): runs /usr/sbin/sshd",
    ),
    case(
        "5.7",
        "an sshd a shell started inside (the probe's process line)",
        with_probe_lines(hardened(), f"process\t{SAFE_ID}\t4242\tsshd"),
        FAIL,
        "web (running): process sshd (pid 4242 on the host)",
    ),
    case("5.5", "privileged", with_container(Privileged=True), FAIL, "web (running): privileged"),
    case(
        "5.5",
        "risky-containers: a created privileged container counts",
        fixture("risky-containers"),
        FAIL,
        "privileged (created): privileged",
    ),
    case(
        "5.6", "/etc mounted read-write", with_container(Mounts=[mount("/etc")]), FAIL, "host /etc mounted read-write"
    ),
    case("5.8", "port 80 published", with_container(PortBindings=port("80")), FAIL, "privileged port(s) 80->8080/tcp"),
    case(
        "5.8",
        "a port range from 80",
        with_container(PortBindings=port("80-90", container_port="80-90/tcp")),
        FAIL,
        "privileged port(s) 80-90->80-90/tcp",
    ),
    case(
        "5.8",
        "running: the real binding counts",
        with_container(Ports=port("443", container_port="443/tcp")),
        FAIL,
        "443->443/tcp",
    ),
    case(
        "5.9",
        "a port published on every interface",
        with_container(PortBindings=port("8080", "")),
        INFO,
        "web (running): 0.0.0.0:8080->8080/tcp",
    ),
    case("5.10", "network host", with_container(NetworkMode="host"), FAIL, "NetworkMode=host"),
    case("5.11", "no memory limit", with_container(Memory=0), FAIL, "no memory limit"),
    case("5.12", "no cpu shares", with_container(CpuShares=0), FAIL, "no CPU shares set"),
    case("5.13", "writable root filesystem", with_container(ReadonlyRootfs=False), FAIL, "root filesystem writable"),
    case(
        "5.14",
        "published on 0.0.0.0",
        with_container(PortBindings=port("8080", "0.0.0.0")),
        FAIL,
        "published on every interface: 0.0.0.0:8080->8080/tcp",
    ),
    case("5.14", "published on [::]", with_container(PortBindings=port("8080", "::")), FAIL, "::"),
    case(
        "5.14",
        "created with -P: each exposed port on every interface at its start",
        with_container(Status="created", PublishAllPorts=True, PortBindings={}, ExposedPorts={"9000/tcp": {}}),
        FAIL,
        "published on every interface (-P: every exposed port): 0.0.0.0:random (-P)->9000/tcp",
    ),
    case(
        "5.14",
        "running with -P: the random port it got",
        with_container(
            PublishAllPorts=True,
            PortBindings={},
            ExposedPorts={"9000/tcp": {}},
            Ports={"9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}]},
        ),
        FAIL,
        "0.0.0.0:32768->9000/tcp, :::32768->9000/tcp",
    ),
    case(
        "5.15",
        "always",
        with_container(RestartPolicy={"Name": "always", "MaximumRetryCount": 0}),
        FAIL,
        "always (restarts without limit)",
    ),
    case(
        "5.15",
        "on-failure with no retry limit",
        with_container(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 0}),
        FAIL,
        "on-failure:0 (0: no limit)",
    ),
    case(
        "5.15",
        "on-failure:10",
        with_container(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 10}),
        FAIL,
        "on-failure:10",
    ),
    case("5.16", "pid host", with_container(PidMode="host"), FAIL, "PidMode=host"),
    case("5.17", "ipc host", with_container(IpcMode="host"), FAIL, "IpcMode=host"),
    case(
        "5.18",
        "/dev/sda passed through",
        with_container(Devices=[{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]),
        FAIL,
        "1 host device(s)",
    ),
    case(
        "5.20",
        "rshared mount",
        with_container(Mounts=[mount("/srv/data", propagation="rshared")]),
        FAIL,
        "shared mount propagation",
    ),
    case("5.21", "uts host", with_container(UTSMode="host"), FAIL, "UTSMode=host"),
    case("5.22", "seccomp=unconfined", with_container(SecurityOpt=["seccomp=unconfined"]), FAIL, "seccomp=unconfined"),
    case(
        "5.22",
        "seccomp:unconfined (colon form)",
        with_container(SecurityOpt=["seccomp:unconfined"]),
        FAIL,
        "seccomp=unconfined",
    ),
    case(
        "5.19",
        "a nofile override",
        with_container(Ulimits=[{"Name": "nofile", "Soft": 1048576, "Hard": 1048576}]),
        INFO,
        "web (running): nofile=1048576:1048576 (overrides the default ulimit: needed?)",
    ),
    case(
        "5.23",
        "an exec session dockerd still tracks",
        with_container(ExecIDs=["e1"]),
        INFO,
        "docker exec inspect shows their Privileged",
    ),
    case("5.24", "no exec session tracked", with_container(), INFO, "--user root` leaves no record"),
    case("5.25", "cgroup-parent /custom", with_container(CgroupParent="/custom"), FAIL, "cgroup parent /custom"),
    case(
        "5.26",
        "stock daemon, container without no-new-privileges",
        stock().containers(container(SecurityOpt=None)),
        FAIL,
        "web (running): no-new-privileges not in its SecurityOpt",
    ),
    case(
        "5.26",
        "daemon-wide, but the container was created before it",
        with_recorded_nnp(hardened(), "false", SecurityOpt=None),
        FAIL,
        "no-new-privileges not set (created before the daemon-wide setting",
    ),
    case(
        "5.26",
        "daemon-wide, dockerd's record unreadable: not assumed",
        with_container(SecurityOpt=None),
        FAIL,
        "dockerd's record of it was not readable",
    ),
    case("5.27", "no health check", with_container(Healthcheck=None), FAIL, "no health check"),
    case("5.27", "--no-healthcheck", with_container(Healthcheck={"Test": ["NONE"]}), FAIL, "health check disabled"),
    case("5.28", "tag latest", with_container(Image="nginx:latest"), FAIL, "image nginx:latest: tag latest"),
    case(
        "5.28",
        "no tag (latest)",
        with_container(Image="registry.lab.invalid:5000/web"),
        FAIL,
        "image registry.lab.invalid:5000/web: untagged (latest)",
    ),
    case("5.29", "pids-limit unset", with_container(PidsLimit=None), FAIL, "no PIDs limit"),
    case("5.29", "pids-limit -1 (unlimited)", with_container(PidsLimit=-1), FAIL, "no PIDs limit"),
    case(
        "5.30",
        "default bridge (20.10 says default)",
        with_container(NetworkMode="default"),
        FAIL,
        "on the default bridge docker0 (NetworkMode=default)",
    ),
    case(
        "5.30",
        "default bridge (newer engines say bridge)",
        with_container(NetworkMode="bridge"),
        FAIL,
        "NetworkMode=bridge",
    ),
    case(
        "5.30",
        "on the default bridge by its networks",
        with_container(NetworkMode="bridge", Networks={"bridge": {}}),
        FAIL,
        "on the default bridge docker0",
    ),
    # a swarm task container says NetworkMode=bridge, yet dockerd attaches it to ingress and overlays only
    # (seen on 28.5)
    case(
        "5.30",
        "swarm task: NetworkMode bridge, networks ingress",
        with_container(NetworkMode="bridge", Networks={"ingress": {"NetworkID": "sptve32cv46r3li5hicmso6e9"}}),
        PASS,
        "none on the default bridge docker0",
    ),
    case("5.31", "userns host", with_container(UsernsMode="host"), FAIL, "UsernsMode=host"),
    case(
        "5.32",
        "docker.sock mounted",
        with_container(Mounts=[mount("/var/run/docker.sock")]),
        FAIL,
        "mounts /var/run/docker.sock: reaches the Docker API (/run/docker.sock)",
    ),
    case(
        "5.32",
        "containerd.sock mounted",
        with_container(Mounts=[mount(CONTAINERD_SOCK)]),
        FAIL,
        f"reaches the containerd API ({CONTAINERD_SOCK})",
    ),
    case(
        "5.32",
        "/ mounted read-only still reaches every socket",
        with_container(Mounts=[mount("/", rw=False)]),
        FAIL,
        "mounts /: reaches the Docker API (/run/docker.sock), the containerd API",
    ),
    case("5.32", "/run/containerd mounted", with_container(Mounts=[mount("/run/containerd")]), FAIL, "containerd API"),
    case(
        "5.32",
        "/var mounted: /var/run is /run",
        with_container(Mounts=[mount("/var", rw=False)]),
        FAIL,
        "mounts /var: reaches the Docker API (/run/docker.sock), the containerd API",
    ),
    case(
        "5.32",
        "a rootless dockerd's socket",
        with_container(Mounts=[mount("/run/user/1000/docker.sock")]),
        FAIL,
        "rootless Docker API (/run/user/1000/docker.sock)",
    ),
    case(
        "5.32",
        "a rootless dockerd's runtime directory",
        with_container(Mounts=[mount("/run/user/1000")]),
        FAIL,
        "rootless Docker API (/run/user/N/docker.sock)",
    ),
    case(
        "5.32",
        "the directory of a custom docker.socket ListenStream",
        hardened().socket(Listen="/srv/docker/api.sock (Stream)").containers(container(Mounts=[mount("/srv/docker")])),
        FAIL,
        "mounts /srv/docker: reaches the Docker API (/srv/docker/api.sock)",
    ),
    case(
        "5.32",
        "the directory of dockerd's own -H unix:// socket",
        with_drop_in(hardened(), "/usr/sbin/dockerd -H fd:// -H unix:///srv/api/docker.sock").containers(
            container(Mounts=[mount("/srv/api", rw=False)])
        ),
        FAIL,
        "mounts /srv/api: reaches the Docker API (/srv/api/docker.sock)",
    ),
    case("REM-CONFIG", "broken-json: trailing comma", fixture("broken-json"), FAIL, f"{DAEMON_JSON}:3:1"),
    case(
        "REM-CONFIG",
        "log-level in daemon.json and in DOCKER_OPTS",
        hardened().append(DEFAULT_DOCKER, 'DOCKER_OPTS="--log-level=warn"'),
        FAIL,
        "dockerd refuses to start",
    ),
    case(
        "REM-RUNNING",
        "docker.service failed",
        hardened().service(ActiveState="failed", SubState="failed"),
        FAIL,
        "docker.service is failed",
    ),
    case("REM-RUNNING", "broken-json: the journal says why", fixture("broken-json"), FAIL, "journal:"),
    case(
        "REM-DRIFT",
        "live-restore false, not yet restarted",
        hardened().daemon_json({"live-restore": False}),
        FAIL,
        "live-restore: configured False",
    ),
    case("REM-DRIFT", "docker info unanswered", hardened().command("docker_info", "", rc=1), NA, "not answering"),
    case("REM-TCP", "tcp-daemon-json as captured", TCP, FAIL, "no TLS: whoever reaches this port controls dockerd"),
    case("REM-TCP", "tcp-socket-unit: ListenStream=2375", fixture("tcp-socket-unit"), FAIL, "docker.socket.d/tcp.conf"),
    case("REM-SOCK-MOUNT", "/run mounted", with_container(Mounts=[mount("/run")]), FAIL, "mounts /run"),
    case(
        "REM-IMAGE-DIGEST",
        "running by tag",
        with_container(Image="registry.lab.invalid:5000/web:1.27"),
        FAIL,
        "web (running): image registry.lab.invalid:5000/web:1.27 not pinned by digest",
    ),
    case(
        "REM-CONTENT-TRUST",
        "DOCKER_CONTENT_TRUST=1 in /etc/environment (breaks Docker Hub pulls)",
        hardened().command("content_trust", "/etc/environment:DOCKER_CONTENT_TRUST=1\n"),
        FAIL,
        "/etc/environment:DOCKER_CONTENT_TRUST=1",
    ),
    case(
        "4.5",
        "content trust set: still information only",
        hardened().command("content_trust", "/etc/environment:DOCKER_CONTENT_TRUST=1\n"),
        INFO,
        "notary.docker.io",
    ),
    case("REM-RUNTIME-MONITOR", "hardened: no falco", hardened(), FAIL, "no Falco service is active"),
    case("REM-SANDBOX-RUNTIME", "hardened: runc only", hardened(), FAIL, "runtimes: io.containerd.runc.v2"),
    case("REM-MAC", "hardened: neither", hardened(), FAIL, "AppArmor: not enabled; SELinux: not installed"),
    case(
        "REM-MAC",
        "SELinux only permissive",
        hardened().command("selinux", "Permissive\n", rc=0),
        FAIL,
        "SELinux: Permissive",
    ),
    case(
        "REM-SECCOMP",
        "seccomp-profile unconfined",
        hardened().daemon_json({"seccomp-profile": "unconfined"}),
        FAIL,
        "seccomp-profile = unconfined",
    ),
    case(
        "REM-SECCOMP",
        "docker info shows no seccomp",
        hardened().docker_info(SecurityOptions=["name=userns"]),
        FAIL,
        "SecurityOptions lacks seccomp",
    ),
    case("REM-IP-FORWARD", "forwarding off", hardened().command("ip_forward", "0\n"), FAIL, "net.ipv4.ip_forward = 0"),
    # dockerd 28.5 validating userns-remap "default" appended a range on top of ops's (FIELD-NOTES §4)
    case(
        "REM-SUBID-OVERLAP",
        "dockerd's range on top of ops's",
        hardened().file("/etc/subgid", content=b"ops:100000:65536\ndockremap:100000:65536\n"),
        FAIL,
        "/etc/subgid: dockremap 100000-165535 and ops 100000-165535",
    ),
    case(
        "REM-SUBID-OVERLAP",
        "a partial overlap",
        hardened().file("/etc/subuid", content=b"ops:100000:65536\nci:165535:10\n"),
        FAIL,
        "/etc/subuid: ops 100000-165535 and ci 165535-165544",
    ),
    case("REM-IP-FORWARD", "sysctl unreadable", hardened().command("ip_forward", "", rc=1), NA, "could not be read"),
]

# CIS 4.4, 4.6, 6 and 7 (and their thresholds), on the lab's captured swarm host: tests/unit/test_images_swarm_checks.py
PASS_CASES += IMAGES_SWARM_PASS
FAIL_CASES += IMAGES_SWARM_FAIL


def verdict(facts: Facts, check_id: str) -> Result:
    host = facts.facts.host
    results = evaluate(CheckContext(facts.build(), POLICY, host_name=host), select(only=check_id))
    assert [r.check.id for r in results] == [check_id]
    return results[0]


def assert_outcome(result: Result, status: str, evidence: str) -> None:
    """`status` is the predicate's verdict; the default policy reports an advisory check's FAIL as WARN."""
    text = "\n".join(result.evidence)
    if status == FAIL and result.check.id in POLICY.advisory:
        assert (result.status, "advisory under this policy" in text) == (WARN, True), text
    else:
        assert result.status == status, text
    assert evidence in text, f"{evidence!r} not in evidence:\n{text}"


@pytest.mark.parametrize(("check_id", "facts", "status", "evidence"), PASS_CASES)
def test_pass_case(check_id, facts, status, evidence):
    assert_outcome(verdict(facts, check_id), status, evidence)


@pytest.mark.parametrize(("check_id", "facts", "status", "evidence"), FAIL_CASES)
def test_fail_case(check_id, facts, status, evidence):
    assert_outcome(verdict(facts, check_id), status, evidence)


# --- docker-bench-security traps (FIELD-NOTES §3) --------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status"), [(0o602, FAIL), (0o600, PASS), (0o644, PASS)], ids=["0602", "0600", "0644"]
)
def test_daemon_json_mode_is_a_bitmask_not_a_decimal(mode, status):
    """602 < 644 as decimal numbers, yet 0602 makes daemon.json world-writable."""
    result = verdict(hardened().mode(DAEMON_JSON, mode), "3.18")
    assert_outcome(result, status, f"{DAEMON_JSON}: mode {mode:04o}, allowed at most 0644")
    if status == FAIL:
        assert "(extra bits 0002)" in result.evidence[0]


@pytest.mark.parametrize(
    ("check_id", "path"), [("1.1.14", "/usr/bin/containerd"), ("1.1.15", "/usr/bin/containerd-shim")]
)
def test_shim_runc_v2_rule_alone_does_not_audit_containerd_or_the_shim(check_id, path):
    """docker-bench greps for the binary's name, so containerd-shim-runc-v2 "matches" containerd."""
    facts = hardened().text(RULES, "-w /usr/bin/containerd-shim-runc-v2 -k docker\n")
    result = verdict(facts, check_id)
    assert_outcome(result, FAIL, f"no audit rule watches {path} exactly (1 rules in audit rules files)")
    assert "rule for another path (not a match)" in result.evidence[1]
    assert_outcome(verdict(facts, "1.1.17"), PASS, f"{RULES}:1: -w /usr/bin/containerd-shim-runc-v2")


@pytest.mark.parametrize("check_id", ["REM-TCP", "2.7"])
def test_multi_line_hosts_array_with_tcp_fails(check_id):
    text = TCP.facts.file(DAEMON_JSON).text()
    assert '"hosts": [\n' in text and '"tcp://0.0.0.0:2375"' in text.splitlines()[3]  # the captured layout
    assert_outcome(verdict(TCP, check_id), FAIL, f"tcp://0.0.0.0:2375 (daemon.json hosts, {DAEMON_JSON}:4): TLS none")


def test_tlsverify_with_ca_cert_and_key_in_daemon_json_passes_2_7():
    assert '"tlsverify": true' in TLS.facts.file(DAEMON_JSON).text()
    for check_id in ("2.7", "REM-TCP", "REM-CONFIG"):
        assert verdict(TLS, check_id).status == PASS, check_id


def test_debug_log_level_only_in_an_exec_start_drop_in_fails_2_3():
    argv = STOCK_ARGV.replace(" $DOCKER_OPTS", " --log-level=debug $DOCKER_OPTS")
    facts = with_drop_in(stock(), argv)
    assert not facts.facts.file(DAEMON_JSON).exists
    assert_outcome(verdict(facts, "2.3"), FAIL, f"log-level = debug ({DROP_IN} (ExecStart))")


def test_debug_log_level_only_in_docker_opts_fails_2_3():
    facts = stock().append(DEFAULT_DOCKER, 'DOCKER_OPTS="--log-level=debug"')  # line 13, after 12 comment lines
    assert "log-level" not in facts.facts.command("service").stdout and not facts.facts.file(DAEMON_JSON).exists
    assert_outcome(verdict(facts, "2.3"), FAIL, f"log-level = debug ({DEFAULT_DOCKER}:13 (DOCKER_OPTS))")


def test_cgroup_parent_only_in_daemon_json_fails_2_10():
    facts = hardened().daemon_json({"cgroup-parent": "/custom"})
    assert "cgroup-parent" not in facts.facts.command("service").stdout + (
        facts.facts.file(DEFAULT_DOCKER).text() or ""
    )
    assert_outcome(verdict(facts, "2.10"), FAIL, f"cgroup-parent = /custom ({DAEMON_JSON}:")


def test_loaded_rules_from_auditctl_win_over_the_rules_files():
    """auditctl -l is what the kernel enforces: a rule only in a file is not (yet) auditing anything."""
    loaded = hardened().command("auditctl", "-w /etc/docker -p rwxa -k docker\n", rc=0)
    assert_outcome(verdict(loaded, "1.1.6"), PASS, "auditctl -l:1: -w /etc/docker -p rwxa -k docker")
    assert_outcome(
        verdict(loaded, "1.1.3"), FAIL, "no audit rule watches /usr/sbin/dockerd exactly (1 rules in auditctl -l)"
    )
    only_loaded = stock().command("auditctl", "-w /usr/sbin/dockerd -p rwxa -k docker\n", rc=0)
    assert_outcome(verdict(only_loaded, "1.1.3"), PASS, "auditctl -l:1: -w /usr/sbin/dockerd")


def test_rules_files_count_when_auditctl_has_no_rules_or_is_missing():
    no_rules = hardened().command("auditctl", "No rules\n", rc=0)
    assert_outcome(verdict(no_rules, "1.1.3"), PASS, f"{RULES}:1: -w /usr/sbin/dockerd")
    assert hardened().facts.command("auditctl").missing
    assert_outcome(verdict(hardened(), "1.1.3"), PASS, f"{RULES}:1: -w /usr/sbin/dockerd")


@pytest.mark.parametrize(
    ("check_id", "path", "rule"),
    [
        ("1.1.3", "/usr/sbin/dockerd", "-a always,exit -F path=/usr/sbin/dockerd -F perm=x -k docker"),
        ("1.1.5", "/var/lib/docker", "-a always,exit -F dir=/var/lib/docker -F perm=wa -k docker"),
    ],
)
def test_syscall_rules_with_path_or_dir_fields_count(check_id, path, rule):
    facts = hardened().without_line(RULES, f"-w {path} -k docker").append(RULES, rule)
    assert_outcome(verdict(facts, check_id), PASS, rule)


def test_sock_mount_of_run_fails_5_32_too_it_holds_docker_sock():
    """Issue 14 item 7: /run holds docker.sock and containerd.sock; the old test said 5.32 passed it."""
    facts = with_container(Mounts=[mount("/run")])
    assert_outcome(verdict(facts, "5.32"), FAIL, "mounts /run: reaches the Docker API")
    assert_outcome(verdict(facts, "REM-SOCK-MOUNT"), FAIL, "mounts /run")


# --- the tables cover the whole catalogue ----------------------------------------------------


def _ids(cases, statuses=None) -> set[str]:
    return {p.values[0] for p in cases if statuses is None or p.values[2] in statuses}


def test_every_check_has_a_pass_case_and_a_fail_case():
    everything = set(catalogue())
    assert _ids(PASS_CASES) == everything
    assert _ids(FAIL_CASES) == everything


def test_only_informational_checks_lack_a_real_pass_or_fail():
    everything = set(catalogue())
    assert _ids(PASS_CASES, {PASS}) == everything - set(NEVER_PASSES)
    assert _ids(FAIL_CASES, {FAIL}) == everything - set(NEVER_FAILS)
    assert all(p.values[2] in (PASS, INFO) for p in PASS_CASES)


def test_the_builder_never_edits_the_fixture_it_started_from():
    before = hardened().facts.to_json()
    hardened().mode(DAEMON_JSON, 0o602).daemon_json({"icc": True}).containers(container()).service(ActiveState="failed")
    assert hardened().facts.to_json() == before
