"""Judgements a security engineer would act on wrongly (issue 14, items 11 and 12), on captured facts.

Each case starts from facts captured on a lab host and changes the one fact the
judgement hangs on: a docker info field, a probe's output, a daemon.json key.
"""

from __future__ import annotations

import datetime as dt

import pytest

from remediate.checks import CheckContext, evaluate, select
from remediate.checks.model import FAIL, INFO, PASS, WARN
from remediate.policy import policy_for
from tests.facts_builder import container, fixture, hardened, mount

DEFAULT = policy_for({})
STRICT = policy_for({}, profile="strict")
# The day the release table was checked: 25.0 is still maintained (until 2026-12-04), 28 is not.
CHECKED = dt.date(2026, 12, 1)


def judge(facts, check_id: str, policy=DEFAULT, today: dt.date = CHECKED):
    ctx = CheckContext(facts.build(), policy, host_name=facts.facts.host, today=today)
    [result] = evaluate(ctx, select(only=check_id))
    return result.status, "\n".join(result.evidence)


# --- REM-SANDBOX-RUNTIME: a runtime is a sandbox by what it runs, not by its name ------------------

GVISOR = {"runc": {"path": "runc"}, "gvisor": {"path": "/usr/local/bin/runsc"}}
FAKE_RUNSC = {"runc": {"path": "runc"}, "runsc": {"path": "/usr/sbin/runc"}}
KATA_SHIM = {"runc": {"path": "runc"}, "kata": {"runtimeType": "io.containerd.kata.v2"}}


@pytest.mark.parametrize(
    ("runtimes", "status", "evidence"),
    [
        (GVISOR, PASS, "gvisor (/usr/local/bin/runsc)"),
        (KATA_SHIM, PASS, "kata (io.containerd.kata.v2)"),
        (FAKE_RUNSC, WARN, "runsc (/usr/sbin/runc)"),
    ],
    ids=["gvisor-named-runtime-running-runsc", "kata-shim-by-runtimeType", "runsc-named-runtime-running-runc"],
)
def test_sandbox_runtime_is_judged_by_its_binary(runtimes, status, evidence):
    got, text = judge(hardened().docker_info(Runtimes=runtimes), "REM-SANDBOX-RUNTIME")
    assert (got, evidence in text) == (status, True), text


# --- REM-CONTENT-TRUST: retired; passes unset, fails where set to a true value -------------------


def probe(check_id: str, command: str, cases: list[tuple[str, str, str]], ids: list[str]):
    """(check, probe output, verdict, evidence) cases: the check judged on hardened with that probe's output."""
    return [
        pytest.param(check_id, command, *case, id=f"{check_id} {name}") for case, name in zip(cases, ids, strict=True)
    ]


CONTENT_TRUST = probe(
    "REM-CONTENT-TRUST",
    "content_trust",
    [
        ("", PASS, "DOCKER_CONTENT_TRUST is not set"),
        ("/etc/environment:DOCKER_CONTENT_TRUST=0\n", PASS, "set to a false value"),
        ("/etc/profile:# export DOCKER_CONTENT_TRUST=1\n", PASS, "DOCKER_CONTENT_TRUST is not set"),
        ("/etc/environment:DOCKER_CONTENT_TRUST=1\n", WARN, "notary.docker.io"),
        ('/etc/profile.d/dct.sh:export DOCKER_CONTENT_TRUST="true"\n', WARN, "/etc/profile.d/dct.sh"),
        # the CLI treats any value strconv.ParseBool cannot read as true
        ("/etc/environment:DOCKER_CONTENT_TRUST=yes\n", WARN, "digest"),
    ],
    ["unset", "zero", "commented-out", "one", "quoted-true", "yes"],
)

# 1.2.2: the full version against the newest patch of its line
ENGINE_VERSION = probe(
    "1.2.2",
    "dockerd_version",
    [
        ("Docker version 25.0.0, build e758fe5\n", WARN, "newest 25.0 patch release is 25.0.17"),
        ("Docker version 25.0.17, build 1a2b3c4\n", PASS, "newest 25.0 patch release"),
        ("Docker version 28.5.2, build ecc6942\n", WARN, "end of life"),
        ("Docker version 29.10.1, build 0000000\n", PASS, "29.10.1"),
        ("Docker version 29.9.0, build 0000000\n", WARN, "newest 29 patch release is 29.10.1"),
        ("Docker version 20.10.24+dfsg1, build 5d6db84\n", WARN, "end of life"),
        ("Docker version 31.0.1, build 0000000\n", PASS, "newer than every line"),
    ],
    ["25.0.0", "25.0.17", "28-eol", "29-newest", "29-behind", "20.10-eol", "newer-than-table"],
)


@pytest.mark.parametrize(("check_id", "command", "stdout", "status", "evidence"), CONTENT_TRUST + ENGINE_VERSION)
def test_judged_on_the_probe_output(check_id, command, stdout, status, evidence):
    got, text = judge(hardened().command(command, stdout), check_id)
    assert (got, evidence in text) == (status, True), text


def test_content_trust_set_fails_under_strict():
    got, text = judge(
        hardened().command("content_trust", "/etc/environment:DOCKER_CONTENT_TRUST=1\n"), "REM-CONTENT-TRUST", STRICT
    )
    assert got == FAIL and "docker trust" in text, text


@pytest.mark.parametrize("policy", [DEFAULT, STRICT], ids=["default", "strict"])
def test_cis_4_5_is_retired_info_never_a_failure(policy):
    for grep in ("", "/etc/environment:DOCKER_CONTENT_TRUST=1\n"):
        got, text = judge(hardened().command("content_trust", grep), "4.5", policy)
        assert got == INFO and "retired" in text and "2026-12-08" in text, text


# --- 1.2.2 ------------------------------------------------------------------------------------------


def test_engine_evidence_names_the_newest_maintained_release():
    for version in (
        "Docker version 28.5.2, build 1\n",
        "Docker version 25.0.3, build 1\n",
        "Docker version 19.03.15\n",
    ):
        _, text = judge(hardened().command("dockerd_version", version), "1.2.2")
        assert "newest maintained release: 29.10.1" in text, text


def test_engine_line_past_its_end_of_life_date_fails():
    got, text = judge(
        hardened().command("dockerd_version", "Docker version 25.0.17, build 1\n"), "1.2.2", today=dt.date(2026, 12, 5)
    )
    assert got == WARN and "end of life since 2026-12-04" in text, text


def test_engine_release_table_is_one_data_file_with_its_date():
    from remediate.checks.host import engine_releases

    table = engine_releases()
    assert table["checked"] == dt.date(2026, 12, 1)
    assert {"29", "28", "25.0", "20.10"} <= set(table["lines"])


# --- 2.5: only real loopback registries are exempt -----------------------------------------------


@pytest.mark.parametrize(
    ("registries", "status"),
    [
        (["127.0.0.1:5000"], PASS),
        (["127.10.0.3"], PASS),
        (["127.0.0.0/8"], PASS),
        (["[::1]:5000"], PASS),
        (["::1"], PASS),
        (["localhost:5000"], PASS),
        (["localhost"], PASS),
        (["127.evil.example:5000"], FAIL),
        (["127.0.0.1.nip.io"], FAIL),
        (["127.0.0.0/7"], FAIL),
        (["localhost.evil.example"], FAIL),
        (["10.0.0.0/8", "127.0.0.1:5000"], FAIL),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(v),
)
def test_insecure_registries_exempt_only_loopback(registries, status):
    got, text = judge(hardened().daemon_json({"insecure-registries": registries}), "2.5")
    assert got == status, text


# --- REM-SECCOMP: docker info's profile=unconfined is no seccomp -----------------------------------


def test_seccomp_unconfined_in_docker_info_fails():
    facts = hardened().docker_info(SecurityOptions=["name=seccomp,profile=unconfined", "name=userns"])
    got, text = judge(facts, "REM-SECCOMP")
    assert got == FAIL and "profile=unconfined" in text, text


# --- REM-RUNTIME-MONITOR: Falco as a container counts --------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"Image": "falcosecurity/falco:0.41.3", "Status": "running"}, PASS),
        ({"Image": "registry.local/sec/monitor:1", "Path": "/usr/bin/falco", "Status": "running"}, PASS),
        ({"Image": "falcosecurity/falco:0.41.3", "Status": "exited"}, WARN),
        ({"Image": "busybox:latest", "Status": "running"}, WARN),
        ({"Image": "falcosecurity/falco-no-driver:0.41.3@sha256:" + "a" * 64, "Status": "running"}, PASS),
        # forwarders and operators beside a monitor detect nothing themselves
        ({"Image": "falcosecurity/falcosidekick:2.31.1", "Status": "running"}, WARN),
        ({"Image": "quay.io/cilium/tetragon-operator:v1.5.0", "Status": "running"}, WARN),
        ({"Image": "quay.io/cilium/tetragon:v1.5.0", "Status": "running"}, PASS),
    ],
    ids=[
        "falco-image-running",
        "falco-command",
        "falco-exited",
        "no-monitor",
        "falco-no-driver-by-digest",
        "falcosidekick",
        "tetragon-operator",
        "tetragon",
    ],
)
def test_runtime_monitor_sees_falco_containers(changes, status):
    got, text = judge(hardened().containers(container(**changes)), "REM-RUNTIME-MONITOR")
    assert got == status, text


# --- REM-IP-FORWARD: advisory, explained ----------------------------------------------------------


def test_ip_forward_off_is_advisory_and_explained():
    got, text = judge(hardened().command("ip_forward", "0\n"), "REM-IP-FORWARD")
    assert got == WARN and "net.ipv4.ip_forward = 0" in text, text
    got, _ = judge(fixture("broken-json"), "REM-IP-FORWARD")
    assert got == WARN


# --- evidence is the same whatever order dockerd lists a container's mounts in -------------------------


@pytest.mark.parametrize("check_id", ["5.6", "5.20", "5.32", "REM-SOCK-MOUNT"])
def test_mount_evidence_does_not_follow_dockerds_mount_order(check_id):
    """dockerd lists .Mounts from a Go map: two inspects of one container can order them differently (seen on
    28.5, api-mounts), and a report or a shard merge must not change with it."""
    mounts = [
        mount("/", rw=True, propagation="rshared"),
        mount("/run/containerd/containerd.sock"),
        mount("/etc", rw=True, propagation="shared"),
    ]
    seen = {judge(hardened().containers(container(Mounts=order)), check_id) for order in (mounts, mounts[::-1])}
    assert len(seen) == 1, seen
