"""The planner's TCP/hosts decision as a table of cases (issue 15 item 2): what the host exposes and where
its -H flags and daemon.json `hosts` are written -> whether TCP goes, whether daemon.json's hosts goes, and
whether the service drop-in must give -H fd:// (dockerd then listens on the socket unit's unix socket only)."""

from __future__ import annotations

import pytest

from remediate.plan.hosts import HostsDecision, decide_hosts, tcp_goes

FD, TCP, UNIX = "-H fd://", "-H tcp://0.0.0.0:2375", "-H unix:///var/run/docker.sock"
HOSTS_TCP = {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}
HOSTS_MTLS = {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"], "tls": True}
HOSTS_UNIX = {"hosts": ["unix:///var/run/docker.sock"]}

# name: (TLS of each TCP exposure, waived checks, daemon.json, -H given, -H harden removes)
#       -> (remove_tcp, remove_file_hosts, need_host)
CASES = {
    "stock -H fd://": (([], set(), {}, [FD], []), (False, False, False)),
    "tcp in daemon.json hosts, ExecStart drop-in without -H": (
        (["none"], set(), HOSTS_TCP, [], []),
        (True, True, True),
    ),
    "tcp in -H flags beside -H fd:// (ExecStart or DOCKER_OPTS)": (
        (["none"], set(), {}, [FD, TCP], [TCP]),
        (True, False, False),
    ),
    "tcp the only -H (DOCKER_OPTS, ExecStart without -H)": ((["none"], set(), {}, [TCP], [TCP]), (True, False, True)),
    "tcp the only -H, from an Environment= drop-in": ((["none"], set(), {}, [TCP], [TCP]), (True, False, True)),
    "tcp and unix -H, tcp removed: unix stays": ((["none"], set(), {}, [UNIX, TCP], [TCP]), (True, False, False)),
    "docker.socket ListenStream tcp served by -H fd://": ((["none"], set(), {}, [FD], []), (True, False, False)),
    "docker.socket ListenStream tcp, daemon.json hosts unix only": (
        (["none"], set(), HOSTS_UNIX, [], []),
        (True, False, False),
    ),
    "mutual TLS kept": ((["tlsverify"], set(), HOSTS_MTLS, [], []), (False, False, False)),
    "mutual TLS with -H fd:// too: daemon.json hosts conflicts, the flag stays": (
        (["tlsverify"], set(), HOSTS_MTLS, [FD], []),
        (False, False, False),
    ),
    "tls without verification is removed": ((["tls"], set(), HOSTS_TCP, [], []), (True, True, True)),
    "one endpoint verified, one not: TCP goes": ((["tlsverify", "none"], set(), HOSTS_TCP, [], []), (True, True, True)),
    "2.7 and REM-TCP both waived: TCP stays": (
        (["none"], {"2.7", "REM-TCP"}, HOSTS_TCP, [], []),
        (False, False, False),
    ),
    "only 2.7 waived: TCP goes": ((["none"], {"2.7"}, HOSTS_TCP, [], []), (True, True, True)),
    "tcp in daemon.json and -H, both go": ((["none", "none"], set(), HOSTS_TCP, [TCP], [TCP]), (True, True, True)),
    "daemon.json hosts beside -H fd:// (no TCP)": (([], set(), HOSTS_UNIX, [FD], []), (False, False, False)),
    "daemon.json hosts not a list": ((["none"], set(), {"hosts": "tcp://0.0.0.0:2375"}, [], []), (True, False, False)),
    "repair: daemon.json read as empty": ((["none"], set(), {}, [], []), (True, False, False)),
}


@pytest.mark.parametrize(("inputs", "expected"), list(CASES.values()), ids=list(CASES))
def test_hosts_decision(inputs, expected):
    exposure_tls, waived, file_values, given, removed = inputs
    remove_tcp = tcp_goes(exposure_tls, waived)
    decision = decide_hosts(remove_tcp=remove_tcp, file_values=file_values, given=given, removed=removed)
    assert (decision.remove_tcp, decision.remove_file_hosts, decision.need_host) == expected


def test_what_each_decision_fixes():
    assert decide_hosts(remove_tcp=True, file_values=HOSTS_TCP, given=[], removed=[]).service_fixes == (
        "2.7",
        "REM-TCP",
    )
    assert decide_hosts(remove_tcp=True, file_values={}, given=[FD], removed=[]).service_fixes == ()
    assert HostsDecision(remove_tcp=True, remove_file_hosts=False, need_host=False).socket_fixes == ("2.7", "REM-TCP")
    assert HostsDecision(remove_tcp=False, remove_file_hosts=False, need_host=False).socket_fixes == ()
