"""The planner's TCP/hosts decision, pure: where dockerd listens after harden.

The goal is the unix socket only whenever some TCP endpoint lacks TLS client
verification (unless 2.7 and REM-TCP are both waived). TCP can be written in
daemon.json's `hosts`, in -H flags (ExecStart, DOCKER_OPTS, an Environment=
drop-in) or in docker.socket's ListenStream (served through -H fd://). When
daemon.json's hosts goes, or a -H goes, and no -H remains, dockerd would listen
nowhere it is reached: the service drop-in then gives -H fd://, never `hosts`
(it would conflict with a -H). tests/unit/test_plan_hosts.py is the table of cases.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.plan.daemon_json import KEY_CHECKS
from remediate.plan.units import is_tcp

TCP_CHECKS = ("2.7", "REM-TCP")


@dataclass(frozen=True)
class HostsDecision:
    remove_tcp: bool  # TCP endpoints go: from -H flags, daemon.json's hosts and docker.socket
    remove_file_hosts: bool  # daemon.json's hosts is removed (it holds TCP that goes)
    need_host: bool  # the service drop-in gives -H fd://

    @property
    def service_fixes(self) -> tuple[str, ...]:
        """The hosts checks the service drop-in fixes (with its -H fd://)."""
        return KEY_CHECKS["hosts"] if self.need_host else ()

    @property
    def socket_fixes(self) -> tuple[str, ...]:
        """The hosts checks the docker.socket drop-in fixes (ListenStream back to the unix socket)."""
        return KEY_CHECKS["hosts"] if self.remove_tcp else ()


def tcp_goes(exposure_tls: Sequence[str], waived: Collection[str]) -> bool:
    """Some TCP endpoint lacks TLS client verification, and the TCP checks are not both waived."""
    return any(tls != "tlsverify" for tls in exposure_tls) and not set(TCP_CHECKS) <= set(waived)


def decide_hosts(
    *, remove_tcp: bool, file_values: Mapping[str, Any], given: Sequence, removed: Sequence
) -> HostsDecision:
    """file_values: daemon.json's settings (after a repair, {}); given: the -H flags of the command line;
    removed: those of them harden takes away (from ExecStart, DOCKER_OPTS or an Environment= drop-in)."""
    file_hosts = file_values.get("hosts")
    file_hosts_tcp = isinstance(file_hosts, list) and any(isinstance(h, str) and is_tcp(h) for h in file_hosts)
    remaining = [f for f in given if f not in removed]
    # daemon.json's hosts leaves the file when its TCP goes, or when a -H stays (dockerd refuses both)
    hosts_leave_file = "hosts" in file_values and ((remove_tcp and file_hosts_tcp) or bool(remaining))
    need_host = (hosts_leave_file or bool(removed)) and not remaining
    return HostsDecision(remove_tcp, remove_tcp and file_hosts_tcp, need_host)
