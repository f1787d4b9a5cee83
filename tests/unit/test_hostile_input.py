"""Hostile input stays data: it is diagnosed with a place, never evaluated, never crashes a run.

Inventory names with shell metacharacters and alias bombs in inventories are
covered in test_inventory.py; this file adds what reaches further: policy
files, templates, remote commands and daemon.json content that would break
the planner.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.connection import ConnectOptions, connect, endpoint_of
from remediate.errors import InventoryError, PolicyError
from remediate.inventory.model import Host
from remediate.plan.planner import plan_host
from remediate.policy import KEYS, WAIVER_KEYS, policy_for
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


# --- policy profiles and inventory overrides ------------------------------------------------
BILLION_LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))


def profile_dir(tmp_path, **files: str):
    for name, text in files.items():
        (tmp_path / f"{name}.yml").write_text(text)
    return tmp_path


def policy_error(host_vars: dict, policies_dir, profile: str | None = None) -> str:
    with pytest.raises(PolicyError) as caught:
        policy_for(host_vars, profile, policies_dir=policies_dir)
    return str(caught.value)


def test_an_alias_bomb_in_a_policy_file_is_refused_quickly_naming_the_file(tmp_path):
    policies = profile_dir(tmp_path, bomb="name: bomb\nl0: &l0 [lol]\n" + BILLION_LAUGHS)
    error = policy_error({}, policies, "bomb")
    assert f"{tmp_path / 'bomb.yml'}:" in error and "alias bomb" in error


def test_malformed_yaml_in_a_policy_file_names_file_line_and_column(tmp_path):
    policies = profile_dir(tmp_path, broken="name: broken\ndaemon:\n  icc: [false\n  debug: true\n")
    assert policy_error({}, policies, "broken").startswith(f"{tmp_path / 'broken.yml'}:4:")


def test_a_profile_that_extends_itself_is_a_policy_error(tmp_path):
    policies = profile_dir(tmp_path, a="name: a\nextends: b\n", b="name: b\nextends: a\n")
    error = policy_error({}, policies, "a")
    assert "extends" in error and "a -> b -> a" in error


@pytest.mark.parametrize("text, line, message", [
    ("daemon: [icc]\n", 2, "daemon must be a mapping, not a list"),
    ("daemon:\n  1: true\n", 3, "daemon key 1 is not a string"),
    ("daemon:\n  log-level: 2024-01-01\n", 3, "daemon log-level: the date 2024-01-01 (quote it"),
    ("daemon:\n  max-concurrent-downloads: .nan\n", 3, "daemon max-concurrent-downloads: the number nan"),
    ("daemon:\n  default-ulimits: {nofile: {Hard: [2024-01-01]}}\n", 3, "daemon default-ulimits: the date"),
    ("advisory: 5\n", 2, "advisory must be a list, not a number"),
    ("severity: [high]\n", 2, "severity must be a mapping"),
    ("hold_back: {a: 1}\n", 2, "hold_back must be a list"),
    ("waivers: 3\n", 2, "waivers must be a list"),
    ("verify_image: [busybox]\n", 2, "verify_image must be a string"),
])
def test_wrongly_typed_profile_values_are_policy_errors_naming_the_line(tmp_path, text, line, message):
    policies = profile_dir(tmp_path, odd="name: odd\n" + text)
    error = policy_error({}, policies, "odd")
    assert error.startswith(f"{tmp_path / 'odd.yml'}:{line}: ") and message in error


@pytest.mark.parametrize("host_vars, message", [
    ({"remediate_policy": {"daemon": "icc=false"}}, "daemon must be a mapping"),
    ({"remediate_policy": {"daemon": {"debug": {"{{ 7*7 }}": float("inf")}}}}, "debug"),
    ({"remediate_policy": {"advisory": 5}}, "advisory must be a list"),
    ({"remediate_policy": {"severity": "high"}}, "severity must be a mapping"),
    ({"remediate_waivers": 5}, "remediate_waivers must be a list"),
    ({"remediate_waivers": {"check": "2.9"}}, "remediate_waivers must be a list"),
])
def test_wrongly_typed_inventory_overrides_are_policy_errors(host_vars, message):
    with pytest.raises(PolicyError, match=message):
        policy_for(host_vars)


def test_template_and_shell_syntax_in_policy_values_stays_literal():
    hostile = "{{ 7*7 }}{% raw %}$(id)`id`;'\"\n"
    p = policy_for({"remediate_policy": {"daemon": {"labels": [hostile]}}, "remediate_waivers": [
        {"check": "2.9", "hosts": "*", "reason": hostile, "expires": "2099-01-01"}]})
    assert p.daemon["labels"] == [hostile] and p.waivers[0].reason == hostile


_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.dates()
           | st.sampled_from(["2.9", "high", "2099-01-01", "*", "{{ 7*7 }}", "$(id)"]))
_YAMLISH = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(sorted(KEYS | WAIVER_KEYS | {"icc", "log-level"})) | st.text(max_size=3) | st.integers(), inner,
    max_size=3), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={"remediate_policy": _YAMLISH, "remediate_waivers": _YAMLISH,
                                           "remediate_profile": st.sampled_from(["default", "strict", "nope", 3])}))
def test_any_inventory_policy_vars_give_a_policy_or_a_policy_error(host_vars):
    try:
        p = policy_for(host_vars)
    except PolicyError as exc:
        assert str(exc)
    else:
        json.dumps(p.daemon, allow_nan=False)


# --- inventory values on their way to a host ---------------------------------------------------
def hostile_values(marker: Path) -> list[str]:
    return [f"$(touch {marker})", f"`touch {marker}`", f"x; touch {marker}", f"x\ntouch {marker}",
            f"'; touch {marker}; '", f'"; touch {marker}; "', f"x|touch {marker}", f"{{{{ 7*7 }}}}{marker}",
            f"-oProxyCommand=touch {marker}", f"x&&touch {marker}", f"x>{marker}"]


@pytest.mark.parametrize("var", ["ansible_host", "remediate_proxy_jump"])
def test_hostile_addresses_never_reach_a_match_exec_shell(tmp_path, var):
    """paramiko runs ~/.ssh/config `Match exec` commands through a shell with the host name spliced in."""
    config = tmp_path / "ssh_config"
    config.write_text('Match originalhost !web1 exec "test %h = bastion"\n  User jump\n')
    marker = tmp_path / "pwned"
    for value in hostile_values(marker):
        host = Host("web1", {var: f"ops@{value}" if var == "remediate_proxy_jump" else value}, ("all",))
        with pytest.raises(InventoryError, match="is not a host name or IP address"):
            endpoint_of(host, ConnectOptions(known_hosts=[], ssh_config=config))
    assert not marker.exists()


def test_plain_addresses_are_still_looked_up(tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host 10.0.0.5 fe80::1%eth0 web_1.example-dc.lan\n  Port 2222\n")
    for address in ("10.0.0.5", "fe80::1%eth0", "web_1.example-dc.lan"):
        endpoint = endpoint_of(Host("h", {"ansible_host": address}, ("all",)),
                               ConnectOptions(known_hosts=[], ssh_config=config))
        assert (endpoint.host, endpoint.port) == (address, 2222)


FAKE_SUDO = """#!/bin/sh
printf '%s\\0' "$@" >"$FAKE_SUDO_ARGV"
while [ $# -gt 0 ]; do case $1 in --) shift; break ;; -u|-p) shift ;; esac; shift; done
exec "$@"
"""


def test_a_hostile_become_user_reaches_sudo_as_one_argument_and_runs_nothing(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(FAKE_SUDO)
    (bin_dir / "sudo").chmod(0o755)
    argv_log = tmp_path / "sudo.argv"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SUDO_ARGV", str(argv_log))
    marker = tmp_path / "pwned"
    for value in hostile_values(marker):
        host = Host("local", {"ansible_connection": "local", "ansible_become": True, "ansible_become_user": value},
                    ("all",))
        with connect(host, ConnectOptions(known_hosts=[])) as conn:
            assert conn.run(["printf", "ok"], become=True).stdout == b"ok"
        words = argv_log.read_bytes().split(b"\0")[:-1]
        assert words[words.index(b"-u") + 1] == value.encode()
        assert words[-2:] == [b"printf", b"ok"]
    assert not marker.exists()
