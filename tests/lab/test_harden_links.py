"""A local user cannot turn harden's root steps against the host it hardens (issue 12, attack 1), on lab hosts.

The attack as reproduced on main: daemon.json's tlscacert points into a user's home; harden chowns the file to
root; the user swaps it for a symlink to a root-only file; verification fails and the automatic restore (or
`rollback --force`) chowns and chmods *through the link*, handing the root-only file to the user. Here: the
planner holds such a file back and says why, the host script refuses it even when a plan asks for it, and a
restore never follows a link planted where a planned file was.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from remediate import app
from remediate.apply.engine import apply_host
from remediate.facts.gather import gather
from remediate.plan.model import FileChange, Plan
from remediate.policy import policy_for
from remediate.results import new_run_id
from remediate.runner import run_fleet
from tests.lab.test_faults_apply import host_sh
from tests.lab.test_harden import harden, target

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

CANARY = "/root/canary"  # stands for /etc/shadow: root-only, and must stay so
SEED_HOME = r"""
set -e
mkdir -p /home/ops/certs
printf 'not really a certificate\n' >/home/ops/certs/ca.pem
chown -R ops:ops /home/ops/certs
chmod 0666 /home/ops/certs/ca.pem
printf 'root only\n' >/root/canary
chmod 0600 /root/canary
"""
CLEANUP = "rm -rf /home/ops/certs /etc/docker/certs /root/canary"


@contextlib.contextmanager
def users_certs(lab, name: str, more: str = ""):
    """ops's /home/ops/certs/ca.pem (0666) and root's canary on the host, for the test's duration."""
    try:
        host_sh(lab, name, SEED_HOME + more)
        yield
    finally:
        host_sh(lab, name, CLEANUP, check=False)


def ops_pem(lab, name: str) -> str:
    return host_sh(lab, name, "stat -c '%U:%G %a' /home/ops/certs/ca.pem").strip()


def canary(lab, name: str) -> str:
    return host_sh(lab, name, f"stat -c '%U:%G %a' {CANARY}").strip()


def seed_daemon_json(lab, name: str, settings: dict) -> None:
    host_sh(
        lab,
        name,
        'printf "%s\\n" "$1" >/etc/docker/daemon.json && systemctl restart docker.service',
        json.dumps(settings),
    )


def test_a_tls_file_in_a_users_home_is_held_back_and_never_chowned(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-02"
    with users_certs(lab, name):
        seed_daemon_json(lab, name, {"tlscacert": "/home/ops/certs/ca.pem"})
        _code, hosts = harden(lab, name, tmp_path, yes=True)
        plan = hosts[name]["plan"]
        assert "/home/ops/certs/ca.pem" not in [c["path"] for c in plan["changes"]]
        held = {h["what"]: h for h in plan["held_back"]}
        assert "/home/ops/certs/ca.pem" in held, plan["held_back"]
        assert "/home/ops/certs is owned by uid" in held["/home/ops/certs/ca.pem"]["reason"]
        assert hosts[name]["apply"]["outcome"] == "changed"  # the rest of the plan still applies
        assert ops_pem(lab, name) == "ops:ops 666"


def test_the_host_refuses_a_plan_that_names_a_file_in_a_users_directory(faults_lab, pristine, tmp_path):
    """Even a plan made elsewhere (an older controller, stale facts) cannot make root chown in /home/ops."""
    lab, name = faults_lab, "stock-03"
    with users_certs(lab, name):
        stat = host_sh(lab, name, "stat -c '%d:%i' /home/ops/certs/ca.pem").strip()
        change = FileChange(
            "/home/ops/certs/ca.pem",
            None,
            None,
            "root",
            "root",
            0o444,
            ("3.9", "3.10"),
            "forced by the test",
            0o666,
            "ops",
            "ops",
            old_inode=stat,
        )
        plan = Plan(name, (change,))

        def work(conn, host):
            facts = gather(conn, become=False)
            return apply_host(conn, facts, plan, policy_for({}, None), run_id=new_run_id(), become=False)

        _inventory, hosts = target(lab, name).resolve()
        (outcome,) = run_fleet(hosts, work, target(lab, name).connect_options())
        assert outcome.ok and outcome.value.outcome == "failed", outcome
        assert "/home/ops/certs is owned by uid" in outcome.value.error and "nothing changed" in outcome.value.error
        assert ops_pem(lab, name) == "ops:ops 666"


def test_rollback_never_chowns_through_a_link_planted_where_a_planned_file_was(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-01"
    with users_certs(
        lab,
        name,
        "mkdir -p /etc/docker/certs && cp /home/ops/certs/ca.pem /etc/docker/certs/ && "
        "chmod 0644 /etc/docker/certs/ca.pem",
    ):
        seed_daemon_json(lab, name, {"tlscacert": "/etc/docker/certs/ca.pem"})
        _code, hosts = harden(lab, name, tmp_path, yes=True)
        changes = {c["path"]: c for c in hosts[name]["plan"]["changes"]}
        assert changes["/etc/docker/certs/ca.pem"]["mode"] == "0444"
        assert hosts[name]["apply"]["outcome"] == "changed"
        # What only root could do here, the test does through the back door: the planned file becomes a link.
        host_sh(
            lab,
            name,
            f"mv /etc/docker/certs/ca.pem /etc/docker/certs/ca.pem.real && ln -s {CANARY} /etc/docker/certs/ca.pem",
        )
        assert app.rollback(target(lab, name), None, force=True) == app.EXIT_ERROR
        assert canary(lab, name) == "root:root 600"
        state = host_sh(lab, name, "cat /var/lib/remediate/runs/*/state").split()
        assert "rollback-failed" in state
