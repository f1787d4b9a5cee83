"""Shared fixtures. The lab is booted once per test session and shared by every lab test.

Tests use their own lab ("test") so a user's lab ("default") is never touched.
Set REMEDIATE_KEEP_LAB=1 to leave it running after the session (faster reruns:
lab.up is idempotent and reuses running hosts). Set REMEDIATE_TEST_DOCKER to an
engine (20.10, 26.1, newest) to run the lab tests on it; tests/lab/test_engines.py
boots every engine whatever it says. While working on a few scenarios, set
REMEDIATE_TEST_SCENARIOS=a,b to boot only those in every lab (tests of other hosts
then fail: select yours with -k).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediate.lab.fleet import OPTIONAL_SCENARIOS, SCENARIO_ORDER, Lab
from remediate.lab.host import LabHost, Latency

TEST_LAB = os.environ.get("REMEDIATE_TEST_LAB", "test")
TEST_ENGINE = os.environ.get("REMEDIATE_TEST_DOCKER") or None
# The report fixtures (audit_doc, harden_doc) for every test that asks for them, without importing them.
pytest_plugins = ("tests.report_fixtures",)

ONLY_SCENARIOS = {s for s in os.environ.get("REMEDIATE_TEST_SCENARIOS", "").split(",") if s}
# Run the lab tests over a slow network: every forwarder delays to this round trip (lab.up --rtt-ms).
TEST_LATENCY = Latency(float(os.environ.get("REMEDIATE_TEST_RTT_MS") or 0))


@dataclass
class LabHandle:
    lab: Lab
    hosts: dict[str, LabHost]
    ops_password: str
    container_secret: str

    @property
    def inventory_path(self) -> Path:
        return self.lab.inventory_path

    @property
    def key_file(self) -> Path:
        return self.lab.key_file

    @property
    def known_hosts(self) -> Path:
        return self.lab.known_hosts


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.lab)


def _booted(name: str, scenario_names: tuple[str, ...] | None = None, extra: int = 0, engine: str | None = None):
    """A booted lab (all scenarios unless told which, plus `extra` plain hosts stock-01..), torn down after.

    engine: the Docker engine (default REMEDIATE_TEST_DOCKER, else the lab's own or the lab default).
    """
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (namespaces, mounts); run the suite as root")
    if scenario_names is not None and ONLY_SCENARIOS:
        scenario_names = tuple(s for s in scenario_names if s in ONLY_SCENARIOS)
    options = {"scenario_names": tuple(scenario_names)} if scenario_names is not None else {}
    fleet = Lab(
        name,
        log=lambda msg: print(f"[lab {name}] {msg}"),
        engine=engine or TEST_ENGINE,
        latency=TEST_LATENCY,
        **options,
    )
    hosts = fleet.up(extra=extra)
    state = fleet.load_state()
    yield LabHandle(fleet, hosts, state["ops_password"], state["container_secret"])
    if not os.environ.get("REMEDIATE_KEEP_LAB"):
        fleet.down()


@pytest.fixture(scope="session")
def lab() -> LabHandle:
    """The shared lab: tests that use it only read (audit, facts, transport) or undo what they change."""
    yield from _booted(TEST_LAB, SCENARIO_ORDER + OPTIONAL_SCENARIOS)


@pytest.fixture(scope="session")
def harden_lab() -> LabHandle:
    """A lab of its own for tests that harden hosts and roll them back (state flows between them)."""
    yield from _booted(f"{TEST_LAB}-harden", SCENARIO_ORDER + OPTIONAL_SCENARIOS)


@pytest.fixture(scope="session")
def inputs_lab() -> LabHandle:
    """A small lab for the hostile-input and environment fault tests (tests/lab/test_faults_input.py): they
    mutate plain stock hosts and put each back; risky-containers holds the container secret."""
    yield from _booted(f"{TEST_LAB}-inputs", ("stock", "risky-containers"), extra=2)


# The runbooks' lab: the `web` group the rollout and rollback runbooks act on (stock is their canary), a
# compliant host, and broken-json, whose refused plan the onboarding runbook shows.
RUNBOOKS_SCENARIOS = ("stock", "tcp-docker-opts", "tcp-socket-unit", "hardened", "broken-json")


@pytest.fixture(scope="session")
def runbooks_lab() -> LabHandle:
    """A lab of its own for tests/lab/test_runbooks.py: the runbooks harden its hosts and roll them back."""
    yield from _booted(f"{TEST_LAB}-runbooks", RUNBOOKS_SCENARIOS)


@pytest.fixture(scope="session")
def install_lab() -> LabHandle:
    """A small lab of its own for tests/lab/test_install.py: a pip-installed `remediate` audits it and dry-runs
    harden on it (a host with findings and a compliant one; nothing is changed)."""
    yield from _booted(f"{TEST_LAB}-install", ("stock", "hardened"))


@pytest.fixture(scope="session")
def faults_lab() -> LabHandle:
    """A lab of its own for the apply and transport fault tests (tests/lab/test_faults_apply.py): they cut
    connections, kill hosts and break filesystems on plain stock hosts (stock-ops reaches stock through sudo)."""
    yield from _booted(f"{TEST_LAB}-faults", ("stock",), extra=3)
