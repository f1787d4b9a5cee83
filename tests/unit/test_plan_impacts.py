"""What a user reads before accepting a plan (issue 14, "Impacts users must read before they accept"),
and the audit-watch policy choice for Docker's data directories, on captured facts."""

from __future__ import annotations

import pytest

from remediate import checks
from remediate import policy as policy_module
from remediate.audit import audit_host
from remediate.checks.model import FAIL, PASS, WARN
from remediate.errors import PolicyError
from remediate.plan import apply_plan, plan_host
from remediate.plan.auditd_rules import RULES_PATH
from remediate.policy import policy_for
from tests.plan_fixtures import load

RECURSIVE = {"remediate_policy": {"auditd_data_dirs": "recursive"}}
DATA_DIRS = ("/var/lib/docker", "/run/containerd")


def audit(facts, host_vars=None):
    return {r.check.id: r for r in audit_host(facts, policy_for(host_vars or {}), checks.select(), facts.host).results}


def impacts(plan) -> dict[str, str]:
    return {i.kind: i.message for i in plan.impacts}


# --- the texts ----------------------------------------------------------------------------------


def test_userland_proxy_impact_names_every_ipv6_address():
    text = impacts(plan_host(load("stock"), policy_for({})))["userland-proxy"]
    assert "every IPv6 address of the host" in text and "::1" in text and "IPv4-only" in text
    assert "the host's addresses keep working" not in text


def test_default_ulimits_impact_says_every_container_at_its_next_start():
    text = impacts(plan_host(load("stock"), policy_for({})))["default-ulimits"]
    assert "every container" in text and "next start" in text and "65536" in text
    assert "too many open files" in text


def test_no_new_privileges_impact_names_file_capabilities_selinux_and_new_containers_only():
    text = impacts(plan_host(load("stock"), policy_for({})))["no-new-privileges"]
    assert "setcap" in text and "SELinux" in text and "created after" in text


# --- audit watches on the data directories: a policy choice, safe by default --------------------


def test_default_policy_adds_no_recursive_watch_on_the_data_directories_and_says_why():
    plan = plan_host(load("stock"), policy_for({}))
    rules = plan.change(RULES_PATH).after.decode().splitlines()
    assert "-w /etc/docker -k docker" in rules
    assert not [r for r in rules if r.split()[1:2] and r.split()[1] in DATA_DIRS]
    note = next(n for n in plan.notes if "auditd_data_dirs" in n)
    assert "recursive" in note and "/var/lib/docker" in note and "/run/containerd" in note
    assert "audit-data-dirs" not in impacts(plan)


def test_recursive_choice_adds_the_cis_watches_with_the_log_volume_impact():
    plan = plan_host(load("stock"), policy_for(RECURSIVE))
    rules = plan.change(RULES_PATH).after.decode().splitlines()
    assert {f"-w {d} -k docker" for d in DATA_DIRS} <= set(rules)
    text = impacts(plan)["audit-data-dirs"]
    assert "recursive" in text and "audit log" in text and "container" in text


def test_data_directory_checks_stay_honest_under_the_default():
    """Never a false pass: unwatched is reported (as a warning naming the policy choice), not passed."""
    before = audit(load("stock"))
    after = audit(apply_plan(load("stock"), plan_host(load("stock"), policy_for({}))))
    for results in (before, after):
        for check_id in ("1.1.4", "1.1.5"):
            text = "\n".join(results[check_id].evidence)
            assert results[check_id].status == WARN and "auditd_data_dirs" in text, text
    assert after["1.1.6"].status == PASS


def test_data_directory_checks_fail_when_the_policy_wants_the_watches():
    results = audit(load("stock"), RECURSIVE)
    assert results["1.1.4"].status == results["1.1.5"].status == FAIL
    assert audit(load("hardened"))["1.1.5"].status == PASS  # a host that has the watch passes either way


def test_auditd_data_dirs_takes_only_known_values():
    with pytest.raises(PolicyError, match="auditd_data_dirs"):
        policy_for({"remediate_policy": {"auditd_data_dirs": "yes"}})


def test_the_old_key_name_audit_data_dirs_still_works_and_says_once_to_rename_it(tmp_path, caplog):
    policy_module._warn_once.cache_clear()
    old = {"remediate_policy": {"audit_data_dirs": "recursive"}}
    assert policy_for(old).auditd_data_dirs == policy_for(RECURSIVE).auditd_data_dirs == "recursive"
    policy_for(old)
    renames = [r.getMessage() for r in caplog.records if "audit_data_dirs" in r.getMessage()]
    assert renames == [
        "remediate_policy: policy key audit_data_dirs is now called auditd_data_dirs (same values); please rename it"
    ]
    (tmp_path / "old.yml").write_text("name: old\naudit_data_dirs: recursive\n")
    assert policy_for({}, "old", policies_dir=tmp_path).auditd_data_dirs == "recursive"
    assert f"{tmp_path / 'old.yml'}:2: policy key audit_data_dirs is now called" in caplog.text
    with pytest.raises(PolicyError, match="audit_data_dirs is the old name of auditd_data_dirs; give only"):
        policy_for({"remediate_policy": {"audit_data_dirs": "none", "auditd_data_dirs": "none"}})
    with pytest.raises(PolicyError, match="audit_data_dirs must be a string"):
        policy_for({"remediate_policy": {"audit_data_dirs": ["none"]}})
