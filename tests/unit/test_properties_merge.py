"""Properties of the daemon.json merge: the owner's keys survive, the output is dockerd-safe JSON, and it is a fixpoint.

"Owned" keys are the ones the merge may take out: the policy's keys, the keys
harden always manages (hosts, seccomp-profile), and keys that clash with a
flag on the command line (dockerd refuses a directive given both ways).
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd import parse_daemon_json
from remediate.dockerd.options import FLAT_OBJECTS, MERGED
from remediate.facts.dockerd_inputs import effective_config
from remediate.plan.daemon_json import (
    ALWAYS_MANAGED,
    FlagGiven,
    desired_daemon_json,
    json_equal,
    merge_settings,
    render_daemon_json,
)
from tests.plan_fixtures import SCENARIOS, load, policy, with_daemon_json

V20 = (20, 10, 24)
V24 = (24, 0, 7)
POLICY = policy().daemon
STRICT = policy(remediate_profile="strict").daemon

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
KNOWN_KEYS = sorted(
    set(POLICY)
    | set(STRICT)
    | ALWAYS_MANAGED
    | {
        "registry-mirrors",
        "log-opts",
        "log-driver",
        "data-root",
        "labels",
        "tls",
        "tlsverify",
        "runtimes",
        "default-address-pools",
        "max-concurrent-downloads",
        "features",
        "containerd",
    }
)
KEYS = st.sampled_from(KNOWN_KEYS) | TEXT
USER = st.dictionaries(KEYS, VALUES, max_size=8)
FLAG_KEYS = st.sampled_from(
    [
        "hosts",
        "debug",
        "log-level",
        "icc",
        "iptables",
        "live-restore",
        "labels",
        "nofile",
        "containerd",
        "runtimes",
        "userns-remap",
        "max-concurrent-downloads",
    ]
)
FLAGS = st.dictionaries(FLAG_KEYS, st.builds(FlagGiven, SCALARS, st.just("-x in ExecStart")), max_size=3)


def clashes(key: str, value, flags) -> set[str]:
    """The directives of a daemon.json entry that a flag also gives (what dockerd refuses)."""
    directives = set(value) if isinstance(value, dict) and key not in FLAT_OBJECTS else {key}
    return {d for d in directives if d in flags and d not in MERGED}


def check_merge(user: dict, wanted: dict, merge, flags) -> None:
    out = merge.settings
    owned = set(wanted) | ALWAYS_MANAGED | set(merge.conflicts)
    for key, value in user.items():
        if key not in owned:
            assert key in out and json_equal(out[key], value), f"user key {key!r} lost or changed"
        if key not in out:
            assert key in merge.removed, f"{key!r} dropped without saying so"
    assert set(merge.removed) <= owned
    assert all(clashes(key, user[key], flags) for key in merge.conflicts)
    for key, value in out.items():
        assert not clashes(key, value, flags), f"{key!r} would clash with a flag: dockerd would refuse to start"
    assert not (set(merge.written) & set(flags)), "a policy key given as a flag was written"


def check_rendered(settings_: dict, version) -> bytes:
    rendered = render_daemon_json(settings_)
    assert json_equal(json.loads(rendered), settings_)
    doc = parse_daemon_json(rendered, version=version)
    assert doc.problems == () and json_equal(doc.values, settings_)
    assert render_daemon_json(doc.values) == rendered, "rendering what we read back changed the bytes"
    return rendered


@settings(max_examples=150, deadline=None)
@given(
    USER,
    st.sampled_from([POLICY, STRICT]),
    FLAGS,
    st.sets(st.sampled_from(sorted(POLICY))),
    st.sampled_from([V20, V24, None]),
    st.booleans(),
)
def test_merge_keeps_the_owners_keys_clashes_with_no_flag_and_is_a_fixpoint(
    user, wanted, flags, hold, version, remove_hosts
):
    options = {"version": version, "flags": flags, "hold": hold, "remove_hosts": remove_hosts}
    merge = merge_settings(user, wanted, **options)
    check_merge(user, wanted, merge, flags)
    rendered = check_rendered(merge.settings, version)
    again = merge_settings(merge.settings, wanted, **options)
    assert json_equal(again.settings, merge.settings) and again.changed_keys == ()
    assert render_daemon_json(again.settings) == rendered


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([s for s in SCENARIOS if s != "broken-json"]), USER, st.sampled_from(["default", "strict"]))
def test_planned_daemon_json_on_captured_hosts_keeps_every_unowned_key(scenario, user, profile):
    """Through the real path: a captured host, the owner's extra keys in its file, its real command-line flags."""
    facts = load(scenario)
    current = (
        json.loads(facts.file("/etc/docker/daemon.json").content or b"{}")
        if facts.file("/etc/docker/daemon.json").exists
        else {}
    )
    effective = effective_config(with_daemon_json(facts, {**current, **user}))
    host_policy = policy(remediate_profile=profile)
    merge = desired_daemon_json(effective, host_policy)
    flags = {
        k: FlagGiven(v, "")
        for k, v in ((key, effective.command_line.value(key)) for key in effective.command_line.keys())  # noqa: SIM118 — not a dict
    }
    check_merge(effective.daemon_json.values, host_policy.daemon, merge, flags)
    check_rendered(merge.settings, effective.version_tuple)
    again = desired_daemon_json(effective, host_policy, existing=merge.settings)
    assert json_equal(again.settings, merge.settings) and again.changed_keys == ()
