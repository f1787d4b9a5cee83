"""Fixtures shared by the lab tests that change hosts (fault suite, links, baseline verification)."""

from __future__ import annotations

import pytest

from tests.lab.test_faults_apply import HOSTS, RESET, docker, host_sh, state


@pytest.fixture
def pristine(faults_lab):
    """The lab's stock hosts as seeded, before and after the test (a host whose PID 1 died is booted again)."""

    def reset():
        if not all(h.alive() for h in faults_lab.lab.hosts().values()):
            faults_lab.lab.up(extra=3)
        for name in HOSTS:
            host_sh(faults_lab, name, RESET)

    reset()
    seeded = {name: state(faults_lab, name) for name in HOSTS}
    yield seeded
    reset()
    for name in HOSTS:
        assert state(faults_lab, name) == seeded[name], f"{name} was not put back as seeded"
        assert docker(faults_lab, name) == "active"
