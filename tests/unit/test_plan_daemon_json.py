"""The daemon.json merge: the host's keys survive, the policy applies, flags and versions are respected."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd import parse_daemon_json
from remediate.facts.dockerd_inputs import effective_config
from remediate.plan.daemon_json import (
    ALWAYS_MANAGED,
    FlagGiven,
    desired_daemon_json,
    json_equal,
    merge_settings,
    render_daemon_json,
)
from tests.plan_fixtures import load, policy, with_daemon_json

V20 = (20, 10, 24)
V24 = (24, 0, 7)
POLICY = policy().daemon


def merge(existing: dict, version=V20, **kwargs):
    return merge_settings(existing, POLICY, version=version, **kwargs)


def test_custom_settings_keeps_user_values_and_drops_debug_and_insecure_registries():
    facts = load("custom-settings")
    effective = effective_config(facts)
    settings, notes = desired_daemon_json(effective, policy(), effective.version_tuple)
    user = json.loads(facts.file("/etc/docker/daemon.json").content)
    for key in ("registry-mirrors", "log-driver", "log-opts", "default-address-pools"):
        assert json_equal(settings[key], user[key]), key
    assert "debug" not in settings and "insecure-registries" not in settings
    assert any("remove debug" in n for n in notes) and any("remove insecure-registries" in n for n in notes)
    assert settings["icc"] is False and settings["live-restore"] is True and settings["log-level"] == "info"
    assert "userns-remap" not in settings  # held back by the default policy


def test_held_back_key_is_not_written_and_says_why():
    result = merge({}, hold={"userns-remap"}, hold_reasons={"userns-remap": "held back by the policy"})
    assert "userns-remap" not in result.settings and "userns-remap" in result.skipped
    assert any("userns-remap left as it is" in n and "held back" in n for n in result.notes)
    assert merge({}).settings["userns-remap"] == "default"


def test_null_key_at_its_default_value_is_kept():
    result = merge({"debug": False, "insecure-registries": [], "experimental": True})
    assert result.settings["debug"] is False and result.settings["insecure-registries"] == []
    assert "experimental" not in result.settings and result.removed == ("experimental",)


def test_object_values_merge_member_by_member():
    nproc = {"Name": "nproc", "Hard": 4096, "Soft": 4096}
    result = merge({"default-ulimits": {"nproc": nproc}})
    assert result.settings["default-ulimits"]["nproc"] == nproc
    assert result.settings["default-ulimits"]["nofile"] == POLICY["default-ulimits"]["nofile"]


def test_wrong_json_type_is_replaced_by_the_policy_value():
    assert merge({"live-restore": "true"}).settings["live-restore"] is True
    assert merge({"icc": 0}).settings["icc"] is False  # 0 == False in Python, not in JSON


def test_key_given_as_a_flag_is_never_written():
    flags = {"log-level": FlagGiven("debug", "--log-level=debug in /lib/systemd/system/docker.service (ExecStart)")}
    result = merge({}, flags=flags)
    assert "log-level" not in result.settings and "log-level" in result.skipped
    assert any("--log-level=debug" in n and "by hand" in n for n in result.notes)


def test_file_key_that_conflicts_with_a_flag_is_removed():
    flags = {"log-level": FlagGiven("info", "--log-level=info in ExecStart")}
    result = merge({"log-level": "info", "labels": ["a=b"]}, flags=flags)
    assert "log-level" not in result.settings and result.conflicts == ("log-level",)
    assert result.settings["labels"] == ["a=b"]


def test_icc_false_only_while_iptables_stays_on():
    flags = {"iptables": FlagGiven(False, "--iptables=false in ExecStart")}
    result = merge({}, flags=flags)
    assert "icc" not in result.settings and any("icc false not written" in n for n in result.notes)
    result = merge({"iptables": False})
    assert "iptables" not in result.settings and result.settings["icc"] is False


def test_icc_false_only_while_ip6tables_stays_on_where_ipv6_is_on_from_27():
    """Seen on dockerd 28.5: {"ipv6": true, "ip6tables": false} plus icc false and dockerd refuses to start."""
    v28 = (28, 5, 2)
    result = merge({"ipv6": True, "fixed-cidr-v6": "fd00:1::/64", "ip6tables": False}, version=v28)
    assert "icc" not in result.settings and any("ip6tables (with ipv6 on)" in n for n in result.notes)
    assert merge({"ipv6": True, "ip6tables": False}, version=None).settings.get("icc") is None  # unknown: strictest
    assert merge({"ipv6": True, "fixed-cidr-v6": "fd00:1::/64"}, version=v28).settings["icc"] is False
    assert merge({"ipv6": False, "ip6tables": False}, version=v28).settings["icc"] is False
    assert merge({"ipv6": True, "ip6tables": False}, version=V24).settings["icc"] is False  # before 27: no such rule


def test_seccomp_never_unconfined_and_builtin_only_from_23():
    assert "seccomp-profile" not in merge({"seccomp-profile": "unconfined"}, version=V24).settings
    assert "seccomp-profile" not in merge({"seccomp-profile": "builtin"}, version=V20).settings
    assert merge({"seccomp-profile": "builtin"}, version=V24).settings["seccomp-profile"] == "builtin"
    wants_builtin = {**POLICY, "seccomp-profile": "builtin"}
    old = merge_settings({}, wants_builtin, version=V20)
    assert "seccomp-profile" not in old.settings and any("before 23.0" in n for n in old.notes)
    assert "seccomp-profile" not in merge_settings({}, wants_builtin, version=None).settings
    assert merge_settings({}, wants_builtin, version=V24).settings["seccomp-profile"] == "builtin"


def test_key_unknown_to_the_release_is_not_written():
    wants = {**POLICY, "default-network-opts": {"bridge": {"com.docker.network.driver.mtu": "1400"}}}
    assert "default-network-opts" not in merge_settings({}, wants, version=V20).settings
    assert "default-network-opts" in merge_settings({}, wants, version=V24).settings


def test_hosts_removed_only_when_asked():
    hosts = {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}
    assert "hosts" not in merge(hosts, remove_hosts=True).settings
    assert merge(hosts).settings["hosts"] == hosts["hosts"]


def test_rendering_is_sorted_indented_and_stable():
    settings = merge({"registry-mirrors": ["https://m.example"], "labels": ["é=ü"]}).settings
    first = render_daemon_json(settings)
    assert first == render_daemon_json(json.loads(first))
    text = first.decode()
    assert text.endswith("}\n") and text.startswith('{\n  "default-ulimits"')
    assert list(json.loads(text)) == sorted(settings) and '"é=ü"' in text


def test_hardened_file_is_semantically_equal_so_nothing_is_rewritten():
    facts = load("hardened")
    effective = effective_config(facts)
    settings, _ = desired_daemon_json(effective, policy(), effective.version_tuple)
    assert json_equal(settings, effective.daemon_json.values)


def test_repaired_or_reordered_file_still_equal():
    facts = with_daemon_json(
        load("hardened"),
        dict(reversed(list(json.loads(load("hardened").file("/etc/docker/daemon.json").content).items()))),
    )
    effective = effective_config(facts)
    settings, _ = desired_daemon_json(effective, policy())
    assert json_equal(settings, effective.daemon_json.values)


# --- properties -------------------------------------------------------------------------------
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [*sorted(POLICY), "hosts", "seccomp-profile", "registry-mirrors", "log-opts", "data-root", "labels"]
) | st.text(max_size=16)
_USER = st.dictionaries(_KEYS, _VALUES, max_size=8)
MANAGED = set(POLICY) | ALWAYS_MANAGED


@settings(max_examples=150, deadline=None)
@given(_USER, st.sampled_from([V20, V24, None]), st.booleans())
def test_merge_keeps_user_keys_parses_and_is_idempotent(user, version, remove_hosts):
    result = merge(user, version=version, remove_hosts=remove_hosts)
    for key, value in user.items():
        if key not in MANAGED:
            assert key in result.settings and json_equal(result.settings[key], value), key
    rendered = render_daemon_json(result.settings)
    assert json_equal(json.loads(rendered), result.settings)
    doc = parse_daemon_json(rendered, version=version)
    assert doc.values is not None and not [p for p in doc.problems if p.kind == "SyntaxError"]
    again = merge(result.settings, version=version, remove_hosts=remove_hosts)
    assert json_equal(again.settings, result.settings) and again.changed_keys == ()
    assert render_daemon_json(again.settings) == rendered
