"""Hostile input stays data: it is diagnosed with a place, never evaluated, never reaches a shell, never crashes a run.

Sections: daemon.json content the planner must refuse rather than crash on;
policy profiles and inventory overrides (alias bombs, malformed YAML, wrong
shapes, extends loops); inventory values on their way to a host (ssh config
Match exec, sudo); templates (harden's files and every report format render
values, never evaluate them); inventory files (hostile names, mapping alias
bombs, object-building tags). More inventory cases live in test_inventory.py.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate import checks
from remediate.audit import audit_host
from remediate.connection import ConnectOptions, connect, endpoint_of
from remediate.errors import InventoryError, PolicyError
from remediate.inventory import load_inventory
from remediate.inventory.model import Host
from remediate.plan.planner import plan_host
from remediate.plan.units import SERVICE_DROPIN
from remediate.policy import KEYS, WAIVER_KEYS, policy_for
from remediate.report import html, junit, markdown, sarif
from remediate.runner import HostOutcome
from tests import report_fixtures as rf
from tests.plan_fixtures import load, policy, with_daemon_json, with_exec_start

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


@pytest.mark.parametrize(
    "text, line, message",
    [
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
    ],
)
def test_wrongly_typed_profile_values_are_policy_errors_naming_the_line(tmp_path, text, line, message):
    policies = profile_dir(tmp_path, odd="name: odd\n" + text)
    error = policy_error({}, policies, "odd")
    assert error.startswith(f"{tmp_path / 'odd.yml'}:{line}: ") and message in error


@pytest.mark.parametrize(
    "host_vars, message",
    [
        ({"remediate_policy": {"daemon": "icc=false"}}, "daemon must be a mapping"),
        ({"remediate_policy": {"daemon": {"debug": {"{{ 7*7 }}": float("inf")}}}}, "debug"),
        ({"remediate_policy": {"advisory": 5}}, "advisory must be a list"),
        ({"remediate_policy": {"severity": "high"}}, "severity must be a mapping"),
        ({"remediate_waivers": 5}, "remediate_waivers must be a list"),
        ({"remediate_waivers": {"check": "2.9"}}, "remediate_waivers must be a list"),
    ],
)
def test_wrongly_typed_inventory_overrides_are_policy_errors(host_vars, message):
    with pytest.raises(PolicyError, match=message):
        policy_for(host_vars)


def test_template_and_shell_syntax_in_policy_values_stays_literal():
    hostile = "{{ 7*7 }}{% raw %}$(id)`id`;'\"\n"
    p = policy_for(
        {
            "remediate_policy": {"daemon": {"labels": [hostile]}},
            "remediate_waivers": [{"check": "2.9", "hosts": "*", "reason": hostile, "expires": "2099-01-01"}],
        }
    )
    assert p.daemon["labels"] == [hostile] and p.waivers[0].reason == hostile


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.dates()
    | st.sampled_from(["2.9", "high", "2099-01-01", "*", "{{ 7*7 }}", "$(id)"])
)
_YAMLISH = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(sorted(KEYS | WAIVER_KEYS | {"icc", "log-level"})) | st.text(max_size=3) | st.integers(),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "remediate_policy": _YAMLISH,
            "remediate_waivers": _YAMLISH,
            "remediate_profile": st.sampled_from(["default", "strict", "nope", 3]),
        },
    )
)
def test_any_inventory_policy_vars_give_a_policy_or_a_policy_error(host_vars):
    try:
        p = policy_for(host_vars)
    except PolicyError as exc:
        assert str(exc)
    else:
        json.dumps(p.daemon, allow_nan=False)


# --- inventory values on their way to a host ---------------------------------------------------
def hostile_values(marker: Path) -> list[str]:
    return [
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"x; touch {marker}",
        f"x\ntouch {marker}",
        f"'; touch {marker}; '",
        f'"; touch {marker}; "',
        f"x|touch {marker}",
        f"{{{{ 7*7 }}}}{marker}",
        f"-oProxyCommand=touch {marker}",
        f"x&&touch {marker}",
        f"x>{marker}",
    ]


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
        endpoint = endpoint_of(
            Host("h", {"ansible_host": address}, ("all",)), ConnectOptions(known_hosts=[], ssh_config=config)
        )
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
        host = Host(
            "local", {"ansible_connection": "local", "ansible_become": True, "ansible_become_user": value}, ("all",)
        )
        with connect(host, ConnectOptions(known_hosts=[])) as conn:
            assert conn.run(["printf", "ok"], become=True).stdout == b"ok"
        words = argv_log.read_bytes().split(b"\0")[:-1]
        assert words[words.index(b"-u") + 1] == value.encode()
        assert words[-2:] == [b"printf", b"ok"]
    assert not marker.exists()


# --- templates render values, never evaluate them ---------------------------------------------
TEMPLATE_SYNTAX = "{{ range(3)|list }}{% if true %}IF{% endif %}{#c#}"
EVALUATED = "[0, 1, 2]IF"
MARKUP = "<script>alert(1)</script>"


def test_template_syntax_from_a_host_stays_literal_in_the_files_harden_writes():
    line = (
        f"ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375 '--label=a={TEMPLATE_SYNTAX}' "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
    )
    dropin = plan_host(with_exec_start(load("stock"), line), policy()).change(SERVICE_DROPIN).after.decode()
    assert f"'--label=a={TEMPLATE_SYNTAX}'" in dropin and EVALUATED not in dropin
    p = plan_host(
        with_daemon_json(load("stock"), {"labels": [TEMPLATE_SYNTAX], "log-opts": {"tag": TEMPLATE_SYNTAX}}), policy()
    )
    written = json.loads(p.change(DAEMON_JSON).after)
    assert written["labels"] == [TEMPLATE_SYNTAX] and written["log-opts"]["tag"] == TEMPLATE_SYNTAX


def test_template_syntax_and_markup_from_inventory_and_hosts_stay_literal_in_every_report():
    hostile = f"{TEMPLATE_SYNTAX}{MARKUP}$(id)`id`'\"|\n# heading"
    facts = with_daemon_json(load("custom-settings"), {"log-level": "info", hostile: hostile, "labels": [hostile]})
    host_policy = policy_for(
        {"remediate_waivers": [{"check": "2.9", "hosts": "*", "reason": hostile, "expires": "2099-01-01"}]}
    )
    audited = audit_host(facts, host_policy, checks.select(), "stock", ("lab",), rf.TODAY)
    plan = plan_host(facts, host_policy, groups=("lab",), today=rf.TODAY)
    entry = {**audited.to_json(), "plan": plan.to_json(), "validation": rf.validation_of(plan).to_json(), "apply": None}
    doc = rf.document([HostOutcome("stock", "ok", rf._Entry(entry), seconds=1, round_trips=2)], "harden")
    for render in (markdown.render, html.render, junit.render, sarif.render):
        out = render(doc)
        assert TEMPLATE_SYNTAX in out and EVALUATED not in out, render
    assert MARKUP not in html.render(doc) and "&lt;script&gt;alert(1)&lt;/script&gt;" in html.render(doc)
    assert MARKUP not in junit.render(doc)


# --- inventory files ------------------------------------------------------------------------------
HOSTILE_NAMES = [
    "h\nid",
    "h'x",
    'h"x',
    "{{ 7*7 }}",
    "{%x%}",
    "h`id`",
    "h|id",
    "h>x",
    "h&x",
    "h;x",
    "h$x",
    "h*x",
    "h\\x",
    "h\tx",
    "~h",
    "h(x)",
    "-h",
    "h=x",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_host_names_are_refused_in_yaml_and_ini_with_file_and_line(tmp_path, name):
    yaml_file = tmp_path / "inv.yml"
    yaml_file.write_text(f"all:\n  hosts:\n    {json.dumps(name)}:\n")
    with pytest.raises(InventoryError, match=f"{yaml_file}:3"):
        load_inventory(yaml_file)
    if "\n" not in name:
        ini_file = tmp_path / "inv.ini"
        ini_file.write_text(f"[web]\n{shlex.quote(name)}\n")
        with pytest.raises(InventoryError, match=f"{ini_file}:2"):
            load_inventory(ini_file)


def test_an_alias_bomb_of_mappings_is_refused_naming_the_file(tmp_path):
    lines = ["all:", "  hosts: {h1: }", "  vars:", "    l0: &l0 {" + ", ".join(f"a{j}: x" for j in range(10)) + "}"]
    lines += [f"    l{i}: &l{i} {{" + ", ".join(f"k{j}: *l{i - 1}" for j in range(10)) + "}" for i in range(1, 10)]
    bomb = tmp_path / "inv.yml"
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(InventoryError, match=f"{bomb}:.*alias bomb"):
        load_inventory(bomb)


def test_yaml_tags_that_build_objects_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        f"all:\n  hosts: {{h1: }}\n  vars:\n    x: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(InventoryError, match=f"{inventory}:4"):
        load_inventory(inventory)
    assert not marker.exists()
