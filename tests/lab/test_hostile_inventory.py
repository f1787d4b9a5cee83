"""Inventory values are hostile until proven otherwise: none of them may run as code on a host."""

from __future__ import annotations

import pytest

from remediate import app
from remediate.connection import ConnectOptions, connect
from remediate.errors import BecomeFailed
from remediate.inventory import load_inventory
from remediate.inventory.model import Host

HOSTILE = [
    "$(touch /tmp/pwned-a)",
    "`touch /tmp/pwned-b`",
    "x; touch /tmp/pwned-c",
    "x\ntouch /tmp/pwned-d",
    "'; touch /tmp/pwned-e; '",
    "{{ lookup('pipe', 'touch /tmp/pwned-f') }}",
    "--help",
]


def pwned_files(conn) -> bytes:
    return conn.run(["sh", "-c", "ls /tmp | grep -c pwned || true"]).stdout.strip()


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_become_user_is_refused_and_runs_nothing(lab, value):
    inventory = load_inventory(lab.inventory_path)
    ops = inventory.host("stock-ops")
    host = Host(name=ops.name, vars={**ops.vars, "ansible_become_user": value}, groups=ops.groups)
    with connect(host, ConnectOptions(known_hosts=[])) as conn:
        with pytest.raises(BecomeFailed):
            conn.run(["id", "-u"], become=True)
        assert pwned_files(conn) == b"0"


def test_hostile_vars_in_an_inventory_file_change_nothing_in_an_audit(lab, tmp_path):
    text = lab.inventory_path.read_text()
    hostile_vars = "".join(
        f"    remediate_note_{i}: {value!r}\n".replace("\n'", "'") for i, value in enumerate(HOSTILE)
    )
    text = text.replace("  vars:\n", "  vars:\n" + hostile_vars.replace("\\n", " "), 1)
    inventory = tmp_path / "hostile.yml"
    inventory.write_text(text)
    target = app.Target(hosts="stock", inventory=str(inventory), known_hosts=[])
    _doc, outcomes = app.run_audit(target, app.AuditOptions())
    assert outcomes[0].ok
    with connect(load_inventory(inventory).host("stock"), ConnectOptions(known_hosts=[])) as conn:
        assert pwned_files(conn) == b"0"
