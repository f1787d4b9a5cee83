"""Hostile input stays data: it is diagnosed with a place, never evaluated, never crashes a run.

Inventory names with shell metacharacters and alias bombs in inventories are
covered in test_inventory.py; this file adds what reaches further: policy
files, templates, remote commands and daemon.json content that would break
the planner.
"""

from __future__ import annotations

from remediate.plan.planner import plan_host
from tests.plan_fixtures import load, policy, with_daemon_json

DAEMON_JSON = "/etc/docker/daemon.json"


# --- daemon.json ----------------------------------------------------------------------------
def test_a_number_dockerd_cannot_hold_is_refused_not_a_crash():
    text = b'{\n  "log-level": "info",\n  "max-concurrent-downloads": 1e400\n}\n'
    p = plan_host(with_daemon_json(load("custom-settings"), text), policy())
    assert p.refused.startswith(f"{DAEMON_JSON}:3:31: the number 1e400 is beyond what dockerd can hold")
    assert not p.changes


def test_a_number_too_long_for_python_int_is_refused_not_a_crash():
    text = b'{"max-concurrent-downloads": ' + b"7" * 5000 + b"}"
    p = plan_host(with_daemon_json(load("custom-settings"), text), policy())
    assert p.refused.startswith(f"{DAEMON_JSON}:1:30: the number 77777777777777777777…7777777777 is beyond")
    assert not p.changes
