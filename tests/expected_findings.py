"""What each lab scenario must fail under the default policy, and nothing more.

Shared by the unit tests (on captured facts) and the lab tests (on live hosts),
so both prove the same thing: each seeded misconfiguration is found exactly.
"""

# 1.1.4 and 1.1.5 (/run/containerd, /var/lib/docker) are warnings under the default policy (auditd_data_dirs: none:
# a recursive watch on a data directory logs container I/O), not failures.
AUDIT_RULES = {f"1.1.{n}" for n in (3, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 18)}
DAEMON_DEFAULTS = {"2.2", "2.8", "2.9", "2.14", "2.15", "2.16"}
STOCK = AUDIT_RULES | DAEMON_DEFAULTS
WITH_DAEMON_JSON = STOCK | {"1.1.11"}

EXPECTED_FAILURES = {
    "stock": STOCK,
    "tcp-daemon-json": WITH_DAEMON_JSON | {"2.7", "REM-TCP"},
    "tcp-docker-opts": STOCK | {"2.7", "REM-TCP"},
    "tcp-socket-unit": STOCK | {"2.7", "REM-TCP"},
    "tcp-mutual-tls": WITH_DAEMON_JSON,  # tls true with a CA: dockerd verifies clients, 2.7 and REM-TCP pass
    "loose-perms": WITH_DAEMON_JSON | {"3.2", "3.6", "3.16", "3.18"},
    # 4.6: busybox, which they run, has no HEALTHCHECK and none of them sets --health-cmd
    "risky-containers": STOCK
    | {
        "4.1",
        "4.6",
        "5.4",
        "5.5",
        "5.7",
        "5.8",
        "5.10",
        "5.11",
        "5.13",
        "5.14",
        "5.16",
        "5.22",
        "5.26",
        "5.28",
        "5.29",
        "5.30",
        "5.32",
        "REM-SOCK-MOUNT",
    },
    "custom-settings": WITH_DAEMON_JSON | {"2.3", "2.5"},
    "hardened": set(),
    # REM-IP-FORWARD (dockerd down: ip_forward 0) is advisory: a warning, not a failure
    "broken-json": WITH_DAEMON_JSON | {"REM-CONFIG", "REM-RUNNING"},
    "docker-ce": STOCK,
    # a swarm manager as `docker swarm init` leaves it (2.15 passes: live-restore is impossible there); 7.4
    # (no service uses a secret) is advisory. 5.26, 5.29: its service's task container
    "swarm": (STOCK - {"2.15"}) | {"5.26", "5.29", "7.2", "7.3", "7.5", "7.7", "7.9"},
}
# containerd 2 (the newest engine) ships neither containerd-shim nor containerd-shim-runc-v1: their audit checks
# are not applicable there.
GONE_WITH_CONTAINERD_2 = {"1.1.15", "1.1.16"}


def expected_failures(containerd_version: str = "") -> dict[str, set[str]]:
    """EXPECTED_FAILURES on a lab whose containerd is this version (its image's versions.json)."""
    gone = GONE_WITH_CONTAINERD_2 if containerd_version.split(".")[0] == "2" else set()
    return {host: failures - gone for host, failures in EXPECTED_FAILURES.items()}
