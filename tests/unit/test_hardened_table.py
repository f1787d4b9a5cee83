"""One table says what "hardened" means for daemon.json (remediate/dockerd/data/hardened.yml, issue 15 item 2).

The default policy's `daemon:` values, the planner's KEY_CHECKS, the catalogue's
`fixable` and the audit's expectations must all be the table's: each test here
fails when one of them is changed by hand.
"""

from __future__ import annotations

import pytest
import yaml

from remediate.checks import CATALOGUE, CheckContext, catalogue, evaluate, select
from remediate.checks.model import FAIL, PASS
from remediate.dockerd.hardened import fixed_checks, key_checks, policy_defaults, table
from remediate.dockerd.versions import KeyTable
from remediate.plan.daemon_json import ALWAYS_MANAGED, KEY_CHECKS, merge_settings
from remediate.policy import policy_for
from tests.facts_builder import hardened

ENTRIES = list(table().values())
POLICY_ENTRIES = [e for e in ENTRIES if e.policy]
V20 = (20, 10, 24)


def judge(facts, check_id: str) -> str:
    ctx = CheckContext(facts.build(), policy_for({}), host_name=facts.facts.host)
    [result] = evaluate(ctx, select(only=check_id))
    return result.status


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_every_profile_starts_from_the_tables_values(profile):
    assert policy_for({}, profile=profile).daemon == policy_defaults()


def test_inventory_overrides_still_merge_over_the_table():
    assert policy_for({"remediate_policy": {"daemon": {"icc": True}}}).daemon == {**policy_defaults(), "icc": True}


def test_planner_key_checks_are_the_tables():
    assert key_checks() == KEY_CHECKS
    assert {e.key for e in ENTRIES if not e.policy} == ALWAYS_MANAGED


def test_catalogue_fixable_comes_from_the_table():
    """The checks a daemon.json key decides are fixable, and catalogue.yml does not say so a second time
    (REM-CONFIG, fixable by --repair-json rather than by a key, keeps its own `fixable: true`)."""
    raw = yaml.safe_load(CATALOGUE.read_text())
    assert {c for c in fixed_checks() if not catalogue()[c].fixable} == set()
    assert {c for c in fixed_checks() if "fixable" in raw[c]} == set()
    fixable = {c.id for c in catalogue().values() if c.fixable and c.concern == "daemon"}
    assert fixable - fixed_checks() == {"REM-CONFIG"}


def test_reloadable_comes_from_what_a_reload_applies():
    """live-restore is in dockerd's reload list, icc is not (dockerd keeps the bridge's iptables rules)."""
    by_key = {e.key: e for e in ENTRIES}
    assert by_key["live-restore"].reloadable and not by_key["icc"].reloadable


def test_since_is_the_oldest_release_that_knows_the_key():
    keys = KeyTable.load()
    for entry in ENTRIES:
        assert keys.releases_with(entry.key)[0].lstrip("v").startswith(entry.since + "."), entry.key


def test_merge_on_an_empty_file_writes_exactly_the_wanted_values():
    merge = merge_settings({}, policy_for({}).daemon, version=V20)
    assert merge.settings == {e.key: e.wanted for e in POLICY_ENTRIES if e.wanted is not None}


@pytest.mark.parametrize("entry", POLICY_ENTRIES, ids=[e.key for e in POLICY_ENTRIES])
def test_the_wanted_value_passes_the_checks_it_decides(entry):
    facts = hardened().daemon_json({entry.key: entry.wanted})
    assert {c: judge(facts, c) for c in entry.checks} == dict.fromkeys(entry.checks, PASS)


JUDGED = [e for e in ENTRIES if e.audit in ("equal", "not")]


@pytest.mark.parametrize("entry", JUDGED, ids=[e.key for e in JUDGED])
def test_the_audit_fails_a_value_the_table_does_not_want(entry):
    bad = entry.refused if entry.audit == "not" else (not entry.wanted if isinstance(entry.wanted, bool) else "x")
    facts = hardened().daemon_json({entry.key: bad})
    assert {c: judge(facts, c) for c in entry.checks} == dict.fromkeys(entry.checks, FAIL)


def test_a_profiles_daemon_keys_override_the_table_key_by_key(tmp_path):
    (tmp_path / "own.yml").write_text("name: own\ndaemon:\n  icc: true\n  labels: [team=a]\n")
    got = policy_for({}, profile="own", policies_dir=tmp_path).daemon
    assert got == {**policy_defaults(), "icc": True, "labels": ["team=a"]}
