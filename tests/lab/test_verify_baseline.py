"""Verification compares with the host as it was (issue 13): a host whose containers could not start before
harden keeps its (harmless) change, and the run says the failure was already there, with exit code 1.

Seen on dockerd 26.1 before this: the change (an audit rules file, daemon.json) was rolled back because the
verification container did not start, though it did not start before either.
"""

from __future__ import annotations

import pytest

from remediate import app
from remediate.lab.scenarios import BUSYBOX_IMPORT
from tests.lab.test_faults_apply import docker, host_sh
from tests.lab.test_harden import harden

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

# The verification image, replaced by one without `true` in it: no container from it starts, before or after.
BREAK_IMAGE = (
    "docker rmi -f busybox:latest >/dev/null && tar -c -T /dev/null | docker import - busybox:latest >/dev/null"
)
MEND_IMAGE = f"docker rmi -f busybox:latest >/dev/null; {BUSYBOX_IMPORT}"


def test_a_container_failure_the_host_already_had_does_not_roll_the_change_back(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-01"
    try:
        host_sh(lab, name, BREAK_IMAGE)
        code, hosts = harden(lab, name, tmp_path, yes=True)
        result = hosts[name]["apply"]
        steps = {s["step"]: s for s in result["steps"]}
        assert not steps["baseline"]["ok"] and not steps["container"]["ok"]
        assert result["outcome"] == "changed", result
        assert result["preexisting"].startswith("containers could not start before this change either")
        assert code == app.EXIT_ERROR
        assert "daemon.json" in host_sh(lab, name, "ls /etc/docker").split()
        assert docker(lab, name) == "active"
    finally:
        host_sh(lab, name, MEND_IMAGE)


def test_a_container_failure_the_change_caused_still_rolls_it_back(faults_lab, pristine, tmp_path):
    """The other side: the baseline started a container, so a failure after the change is the change's."""
    lab, name = faults_lab, "stock-02"
    # a plan whose ulimits the lab's hosts cannot grant (README "The lab": the open-files hard limit)
    inventory = tmp_path / "inventory.yml"
    import yaml

    data = yaml.safe_load(lab.inventory_path.read_text())
    data["all"]["vars"]["remediate_policy"]["daemon"]["default-ulimits"] = {
        "nofile": {"Name": "nofile", "Hard": 1 << 30, "Soft": 1 << 30}
    }
    inventory.write_text(yaml.safe_dump(data))
    code, hosts = harden(lab, name, tmp_path, inventory=inventory, yes=True)
    result = hosts[name]["apply"]
    steps = {s["step"]: s for s in result["steps"]}
    assert steps["baseline"]["ok"] and result["outcome"] == "rolled-back" and result["preexisting"] is None, result
    assert code == app.EXIT_ERROR
