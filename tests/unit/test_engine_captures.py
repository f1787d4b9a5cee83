"""The audit on facts captured from lab hosts of the newer engines (tests/fixtures/facts/engines/).

tests/fixtures/facts/ holds 20.10's captures (the default lab); what each newer engine prints differently,
and what the audit must make of it, is pinned here on facts captured from real 26.1 (trixie) and
28.5 (trixie + Debian unstable's engine) hosts with `invoke facts --save`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remediate import checks
from remediate.audit import audit_host
from remediate.checks.model import ERROR, FAIL, NA, PASS
from remediate.facts import parse
from remediate.facts.dockerd_inputs import effective_config
from remediate.facts.model import HostFacts
from remediate.facts.probes import SNIPPETS
from remediate.policy import policy_for
from tests.expected_findings import EXPECTED_FAILURES

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts"
ENGINES = ("20.10", "26.1", "28.5")
# containerd 2 (28.5's) ships neither containerd-shim nor containerd-shim-runc-v1.
NO_OLD_SHIMS = {"28.5"}


def load(scenario: str, engine: str) -> HostFacts:
    path = FIXTURES / (f"{scenario}.json" if engine == "20.10" else f"engines/{scenario}-{engine}.json")
    return HostFacts.load(path)


def audit(scenario: str, engine: str):
    facts = load(scenario, engine)
    results = audit_host(facts, policy_for({}), checks.select(), scenario, ("lab",)).results
    return {r.check.id: r for r in results}


# --- dockerd down: docker info is no answer -------------------------------------------------------

# What each engine's client printed with dockerd down (broken-json): the captures hold exactly this.
DOWN_OUTPUT = {
    "20.10": (0, '{"ServerErrors":'),
    "26.1": (0, '{"ID":"","Containers":0,'),
    "28.5": (1, '{"ID":"","Containers":0,'),
}
# Every check that reads docker info, and what it says when dockerd does not answer.
NEEDS_THE_DAEMON = {
    "2.1": "rootless",
    "2.6": "storage-driver",
    "5.1": "",
    "REM-DRIFT": "nothing to compare with",
    "REM-SECCOMP": "SecurityOptions",
    "REM-SANDBOX-RUNTIME": "runtimes",
}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_down_dockerds_docker_info_is_no_answer_on_every_engine(engine):
    command = load("broken-json", engine).command("docker_info")
    assert (command.rc, command.stdout[: len(DOWN_OUTPUT[engine][1])]) == DOWN_OUTPUT[engine]
    assert parse.docker_info(command) is None
    assert effective_config(load("broken-json", engine)).drift == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_running_dockerds_docker_info_is_its_answer(engine):
    info = parse.docker_info(load("hardened", engine).command("docker_info"))
    assert info is not None and info["ID"] and info["ServerVersion"].startswith(engine + ".")


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_json_fails_what_it_fails_on_20_10_and_no_false_drift(engine):
    """26.1 and 28.5 printed a zero-valued info: read as the daemon's, it made REM-DRIFT fail on
    log-driver '' and the swarm check pass."""
    results = audit("broken-json", engine)
    expected = EXPECTED_FAILURES["broken-json"] - ({"1.1.15", "1.1.16"} if engine in NO_OLD_SHIMS else set())
    assert {i for i, r in results.items() if r.status == FAIL} == expected
    assert not [i for i, r in results.items() if r.status == ERROR]
    for check_id, words in NEEDS_THE_DAEMON.items():
        result = results[check_id]
        assert result.status == NA, (check_id, result.status, result.evidence)
        assert result.evidence[0].startswith("dockerd is not answering") and words in result.evidence[0], check_id


@pytest.mark.parametrize("engine", ENGINES)
def test_containers_are_unknown_not_absent_when_dockerd_is_down(engine):
    """26.1's zero-valued info counts 0 containers, so the probe skipped `docker ps` and answered rc 0."""
    results = audit("broken-json", engine)
    for check_id in ("4.1", "5.4", "5.10", "REM-SOCK-MOUNT"):
        assert (results[check_id].status, results[check_id].evidence[0]) == (
            NA,
            "dockerd is not answering: containers could not be listed",
        ), check_id


def test_the_containers_probe_lists_them_when_docker_info_is_a_down_clients(tmp_path):
    """The probe skips `docker ps` only on a daemon's count of none: not on 26.1's zero-valued info."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "docker").write_text('#!/bin/sh\necho "docker $*" >> "$LOG"\nexit 1\n')
    (fake / "docker").chmod(0o755)
    for engine in ("26.1", "28.5"):
        log = tmp_path / "calls"
        log.write_text("")
        (tmp_path / "info").write_text(load("broken-json", engine).command("docker_info").stdout)
        env = {
            "PATH": f"{fake}:/usr/bin:/bin",
            "LOG": str(log),
            "INFO": str(tmp_path / "info"),
            "HANDOFF": str(tmp_path / "listed"),
            "REMEDIATE_CONTAINER_TEMPLATE": "{{json .Id}}",
            "REMEDIATE_IMAGE_TEMPLATE": "{{json .Id}}",
        }
        result = subprocess.run(
            ["/bin/sh", "-c", SNIPPETS["containers"]], env=env, capture_output=True, text=True, check=False
        )
        assert (result.returncode, log.read_text()) == (3, "docker ps -aq --no-trunc\n"), engine
    (tmp_path / "info").write_text(load("hardened", "28.5").command("docker_info").stdout)
    log.write_text("")
    result = subprocess.run(
        ["/bin/sh", "-c", SNIPPETS["containers"]], env=env, capture_output=True, text=True, check=False
    )
    # a daemon's count of no container: no `docker ps` (it lists the images docker info counted, for that probe)
    assert (result.returncode, "docker ps" in log.read_text()) == (0, False)


@pytest.mark.parametrize("engine", ENGINES)
def test_old_shims_are_not_applicable_where_containerd_has_none(engine):
    results = audit("broken-json", engine)
    for check_id, name in (("1.1.15", "containerd-shim"), ("1.1.16", "containerd-shim-runc-v1")):
        if engine in NO_OLD_SHIMS:
            assert (results[check_id].status, results[check_id].evidence[0]) == (
                NA,
                f"{name} does not exist on this host",
            )
        else:
            assert results[check_id].status == FAIL
    assert results["1.1.17"].status == FAIL  # containerd-shim-runc-v2 is there on every engine
    assert PASS not in {results[i].status for i in ("1.1.15", "1.1.16")}
