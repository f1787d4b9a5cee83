"""Inventory loading, Ansible vars precedence, host patterns and target resolution."""

from __future__ import annotations

import dataclasses
import textwrap
import time
from pathlib import Path

import pytest

from remediate.errors import InventoryError
from remediate.inventory import Host, Inventory, load_inventory, resolve_target

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "inventories" / "docs"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, name: str = "inv.yml") -> Inventory:
    return load_inventory(write(tmp_path / name, text))


def names(hosts: list[Host]) -> list[str]:
    return [host.name for host in hosts]


def fails(tmp_path: Path, text: str, name: str = "inv.yml") -> str:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, text, name)
    return str(caught.value)


# --- the examples from Ansible's inventory documentation -------------------


def test_docs_network_example_nests_groups():
    inventory = load_inventory(DOCS / "network.yml")
    assert names(inventory.select("network")) == ["leaf01", "leaf02", "spine01", "spine02"]
    assert names(inventory.select("datacenter")) == names(inventory.select("all"))
    assert inventory.host("spine02").var("ansible_host") == "10.16.10.14"
    assert inventory.host("leaf01").groups == ("all", "datacenter", "leafs", "network")
    assert inventory.groups["network"].children == ("leafs", "spines")
    assert inventory.groups["leafs"].parents == ("network",)
    assert inventory.groups["datacenter"].parents == ("all",)
    assert inventory.groups["leafs"].depth == 3


@pytest.mark.parametrize("source", ["usa.yml", "usa.ini"])
def test_docs_usa_example_yaml_and_ini_agree(source):
    inventory = load_inventory(DOCS / source)
    assert list(inventory.hosts) == ["host1", "host2", "host3", "www.example.com"]
    assert inventory.host("host2").groups == ("all", "atlanta", "raleigh", "southeast", "usa")
    assert inventory.host("host1").var("some_server") == "foo.southeast.example.com"
    assert inventory.host("www.example.com").var("some_server") is None
    assert set(inventory.groups["usa"].children) == {"southeast", "northeast", "northwest", "southwest"}


def test_ini_values_are_strings_where_yaml_keeps_types():
    assert load_inventory(DOCS / "usa.yml").host("host1").var("escape_pods") == 2
    assert load_inventory(DOCS / "usa.ini").host("host1").var("escape_pods") == "2"


@pytest.mark.parametrize("source", ["basic.ini", "basic.yml"])
def test_docs_basic_example_ungrouped_ports_and_host_vars(source):
    inventory = load_inventory(DOCS / source)
    mail = inventory.host("mail.example.com")
    assert mail.groups == ("all", "ungrouped")
    bar = inventory.host("bar.example.com")
    assert dict(bar.vars) == {"ansible_port": 5309, "http_port": "80", "motd": "hello world"}
    assert names(inventory.select("ungrouped")) == ["mail.example.com"]
    assert inventory.groups["ungrouped"].parents == ("all",)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("webservers:&staging", ["host3", "www.example.com"]),
        ("webservers:!atlanta", ["host3", "www.example.com"]),
        ("all:!southeast", ["www.example.com"]),
        ("!southeast", ["www.example.com"]),
        ("!atlanta:webservers", ["host3", "www.example.com"]),
        ("&staging:webservers", ["host3", "www.example.com"]),
        ("raleigh,atlanta", ["host1", "host2", "host3"]),
        (" raleigh , atlanta ", ["host1", "host2", "host3"]),
        ("atlanta:raleigh:!host2", ["host1", "host3"]),
        ("atlanta,raleigh:!host2", ["host1", "host3"]),
        ("usa:&webservers:!staging", ["host1"]),
        ("all", ["host1", "host2", "host3", "www.example.com"]),
        ("*", ["host1", "host2", "host3", "www.example.com"]),
        ("host?", ["host1", "host2", "host3"]),
        ("*.example.com", ["www.example.com"]),
        ("south*", ["host1", "host2", "host3"]),
        ("~host[13]", ["host1", "host3"]),
        ("~(atl|ral)", ["host1", "host2", "host3"]),
        ("host3,host1,host3", ["host1", "host3"]),
        ("all:!~host.*", ["www.example.com"]),
    ],
)
def test_patterns_follow_ansible_semantics(pattern, expected):
    inventory = load_inventory(DOCS / "usa.yml")
    assert names(inventory.select(pattern)) == expected


# --- host patterns: refusals -------------------------------------------------


@pytest.fixture
def usa() -> Inventory:
    return load_inventory(DOCS / "usa.yml")


def test_wildcards_never_match_the_implicit_groups(usa):
    assert names(usa.select("a*")) == ["host1", "host2"]
    assert names(usa.select("~u")) == ["host1", "host2", "host3"]
    with pytest.raises(InventoryError, match="matches no hosts"):
        usa.select("ungroup*")


def test_unknown_name_suggests_nearest(usa):
    with pytest.raises(InventoryError, match=r"'webservrs'.*did you mean webservers\?"):
        usa.select("webservrs")


def test_unknown_name_in_exclusion_is_an_error_not_a_no_op(usa):
    with pytest.raises(InventoryError, match=r"'atlantaa'.*usa\.yml.*did you mean atlanta"):
        usa.select("all:!atlantaa")


def test_unknown_name_without_close_match_lists_groups(usa):
    with pytest.raises(InventoryError, match=r"known groups: all, atlanta"):
        usa.select("zzzzzz")


@pytest.mark.parametrize("pattern", ["atlanta:&staging", "northeast", "all:!all", "nomatch*"])
def test_pattern_selecting_nothing_is_an_error(usa, pattern):
    with pytest.raises(InventoryError, match="matches no hosts"):
        usa.select(pattern)


@pytest.mark.parametrize("pattern", ["", "   ", ",,", " : "])
def test_empty_pattern_is_an_error(usa, pattern):
    with pytest.raises(InventoryError, match="empty host pattern"):
        usa.select(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("~host(", "invalid regex"),
        ("webservers[0]", "subscripts"),
        ("all:!", "bare '&' or '!'"),
        ("web servers", "no host or group named 'web servers'"),
    ],
)
def test_malformed_patterns_are_refused(usa, pattern, message):
    with pytest.raises(InventoryError, match=message):
        usa.select(pattern)


def test_host_lookup_suggests_nearest(usa):
    assert usa.host("host1").name == "host1"
    with pytest.raises(InventoryError, match=r"no host named 'hots1'.*did you mean host1"):
        usa.host("hots1")


def test_ipv6_host_name_is_not_split_on_colons(tmp_path):
    inventory = load(tmp_path, "all:\n  hosts:\n    'fe80::1':\n    web1:\n")
    assert names(inventory.select("fe80::1")) == ["fe80::1"]
    assert names(inventory.select("fe80::1,web1")) == ["fe80::1", "web1"]
    assert inventory.host("fe80::1").var("ansible_port") is None


# --- data objects --------------------------------------------------------------


def test_host_is_frozen_and_its_vars_read_only(usa):
    host = usa.host("host1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        host.name = "other"
    with pytest.raises(TypeError):
        host.vars["some_server"] = "evil"
    assert host.var("missing", "fallback") == "fallback"
    assert {host, usa.host("host1")} == {host}


def test_hosts_keep_inventory_order_and_accumulate_groups(tmp_path):
    inventory = load(
        tmp_path,
        """
        b:
          hosts:
            zeta: {x: 1}
            alpha:
        a:
          hosts:
            zeta: {y: 2}
        """,
    )
    assert list(inventory.hosts) == ["zeta", "alpha"]
    assert inventory.host("zeta").groups == ("a", "all", "b")
    assert dict(inventory.host("zeta").vars) == {"x": 1, "y": 2}
    assert inventory.groups["b"].hosts == ("zeta", "alpha")


def test_explicit_ungrouped_host_leaves_ungrouped_when_in_a_real_group(tmp_path):
    inventory = load(
        tmp_path,
        """
        ungrouped:
          hosts:
            web1:
            mail:
        web:
          hosts:
            web1:
        """,
    )
    assert inventory.host("web1").groups == ("all", "web")
    assert inventory.groups["ungrouped"].hosts == ("mail",)


# --- variable precedence ---------------------------------------------------------


def test_child_group_beats_parent_and_all(tmp_path):
    inventory = load(
        tmp_path,
        """
        all:
          vars: {level: all, from_all: yes}
          children:
            parent:
              vars: {level: parent}
              children:
                child:
                  vars: {level: child}
                  hosts:
                    h1:
            other:
              hosts:
                h2:
        """,
    )
    assert inventory.host("h1").var("level") == "child"
    assert inventory.host("h1").var("from_all") is True
    assert inventory.host("h2").var("level") == "all"


def test_depth_is_the_longest_path_from_all(tmp_path):
    inventory = load(
        tmp_path,
        """
        top:
          vars: {level: top}
          children:
            mid:
              vars: {level: mid}
              children:
                deep:
                  vars: {level: deep}
        shallow:
          vars: {level: shallow}
          children:
            deep:
              hosts:
                h1:
        """,
    )
    assert inventory.groups["deep"].depth == 3
    assert inventory.host("h1").var("level") == "deep"


def test_sibling_groups_merge_alphabetically_later_wins(tmp_path):
    inventory = load(
        tmp_path,
        """
        b_group:
          vars: {testvar: b}
          hosts: {h1: }
        a_group:
          vars: {testvar: a}
          hosts: {h1: }
        """,
    )
    assert inventory.host("h1").var("testvar") == "b"


def test_ansible_group_priority_overrides_alphabetical_order(tmp_path):
    inventory = load(
        tmp_path,
        """
        a_group:
          vars:
            testvar: a
            ansible_group_priority: 10
          hosts: {h1: }
        b_group:
          vars: {testvar: b}
          hosts: {h1: }
        """,
    )
    assert inventory.host("h1").var("testvar") == "a"
    assert "ansible_group_priority" not in inventory.host("h1").vars
    assert inventory.groups["a_group"].priority == 10


def test_group_priority_never_beats_depth(tmp_path):
    inventory = load(
        tmp_path,
        """
        parent:
          vars: {v: parent, ansible_group_priority: 100}
          children:
            child:
              vars: {v: child}
              hosts: {h1: }
        """,
    )
    assert inventory.host("h1").var("v") == "child"


def test_ini_group_priority_is_read_as_an_integer(tmp_path):
    inventory = load(
        tmp_path,
        """
        [a_group]
        h1
        [b_group]
        h1
        [a_group:vars]
        testvar=a
        ansible_group_priority=10
        [b_group:vars]
        testvar=b
        """,
        "inv.ini",
    )
    assert inventory.host("h1").var("testvar") == "a"


def test_non_integer_group_priority_is_an_error(tmp_path):
    message = fails(tmp_path, "g:\n  vars:\n    ansible_group_priority: high\n")
    assert "inv.yml:2" in message and "must be an integer" in message


def test_group_priority_in_group_vars_is_refused(tmp_path):
    write(tmp_path / "group_vars" / "g.yml", "ansible_group_priority: 5\n")
    message = fails(tmp_path, "g:\n  hosts: {h1: }\n")
    assert "group_vars/g" in message and "inventory file" in message


def test_vars_layers_follow_ansible_order(tmp_path):
    """inline groups < group_vars/ files (all, then groups) < inline host < host_vars/."""
    write(tmp_path / "group_vars" / "all.yml", "a: gv_all\nb: gv_all\nc: gv_all\nd: gv_all\ne: gv_all\n")
    write(tmp_path / "group_vars" / "web.yml", "b: gv_web\nc: gv_web\nd: gv_web\ne: gv_web\n")
    write(tmp_path / "host_vars" / "h1.yml", "e: hv_file\n")
    inventory = load(
        tmp_path,
        """
        all:
          vars: {a: inline_all, z: inline_all}
        web:
          vars: {a: inline_web, b: inline_web, z: inline_web}
          hosts:
            h1: {d: inline_host, e: inline_host}
            h2:
        """,
    )
    h1 = inventory.host("h1")
    assert h1.var("z") == "inline_web"
    assert h1.var("a") == "gv_all"  # group_vars/all.yml beats even a child group's inline vars
    assert h1.var("b") == "gv_web"
    assert h1.var("c") == "gv_web"
    assert h1.var("d") == "inline_host"
    assert h1.var("e") == "hv_file"
    assert inventory.host("h2").var("e") == "gv_web"
    assert dict(inventory.groups["web"].vars) == {
        "a": "inline_web",
        "b": "gv_web",
        "z": "inline_web",
        "c": "gv_web",
        "d": "gv_web",
        "e": "gv_web",
    }


def test_dict_values_are_replaced_not_merged(tmp_path):
    inventory = load(
        tmp_path,
        """
        parent:
          vars:
            daemon: {icc: false, log_driver: journald}
          children:
            child:
              vars:
                daemon: {icc: true}
              hosts: {h1: }
        """,
    )
    assert inventory.host("h1").var("daemon") == {"icc": True}


def test_group_vars_directory_merges_files_in_sorted_order(tmp_path):
    directory = tmp_path / "group_vars" / "web"
    write(directory / "20-late.yml", "v: late\nonly_late: 1\n")
    write(directory / "10-early.yaml", "v: early\nonly_early: 1\n")
    write(directory / "15-sub" / "x.json", '{"v": "sub", "from_sub": true}')
    write(directory / "30-noext", "v: noext\n")
    write(directory / ".hidden.yml", "v: hidden\n")
    write(directory / "99.yml~", "v: backup\n")
    write(directory / "README.md", "v: readme\n")
    inventory = load(tmp_path, "web:\n  hosts: {h1: }\n")
    assert dict(inventory.host("h1").vars) == {
        "v": "noext",
        "only_early": 1,
        "from_sub": True,
        "only_late": 1,
    }


@pytest.mark.parametrize("filename", ["web.yaml", "web.json", "web"])
def test_group_vars_file_extensions(tmp_path, filename):
    write(tmp_path / "group_vars" / filename, '{"v": "file"}')
    assert load(tmp_path, "web:\n  hosts: {h1: }\n").host("h1").var("v") == "file"


def test_vars_split_over_file_and_directory_is_refused(tmp_path):
    write(tmp_path / "group_vars" / "web.yml", "v: 1\n")
    write(tmp_path / "group_vars" / "web" / "more.yml", "v: 2\n")
    message = fails(tmp_path, "web:\n  hosts: {h1: }\n")
    assert "split over" in message and "web.yml" in message


def test_host_vars_file_must_be_a_mapping(tmp_path):
    write(tmp_path / "host_vars" / "h1.yml", "- a\n- b\n")
    message = fails(tmp_path, "all:\n  hosts: {h1: }\n")
    assert "host_vars/h1.yml:1" in message and "mapping" in message


def test_empty_vars_file_is_fine(tmp_path):
    write(tmp_path / "host_vars" / "h1.yml", "# nothing yet\n")
    assert dict(load(tmp_path, "all:\n  hosts: {h1: }\n").host("h1").vars) == {}


def test_vars_files_are_checked_like_inline_vars(tmp_path):
    write(tmp_path / "group_vars" / "all.yml", "ok: 1\nbad-name: 2\n")
    message = fails(tmp_path, "all:\n  hosts: {h1: }\n")
    assert "group_vars/all.yml:2" in message and "'bad-name'" in message


def test_malformed_vars_file_reports_its_own_path(tmp_path):
    write(tmp_path / "host_vars" / "h1.yml", "a: [1,\n")
    message = fails(tmp_path, "all:\n  hosts: {h1: }\n")
    assert "host_vars/h1.yml:2" in message


# --- hostile values stay data --------------------------------------------------


def test_template_and_shell_syntax_in_values_stays_literal(tmp_path):
    inventory = load(
        tmp_path,
        """
        all:
          vars:
            motd: "{{ lookup('pipe','id') }}"
            raw: !unsafe "{% for x in range(9) %}{{ x }}{% endfor %}"
          hosts:
            h1:
              ansible_become_password: "$(id)`id`;rm -rf /"
        """,
    )
    h1 = inventory.host("h1")
    assert h1.var("motd") == "{{ lookup('pipe','id') }}"
    assert h1.var("raw") == "{% for x in range(9) %}{{ x }}{% endfor %}"
    assert h1.var("ansible_become_password") == "$(id)`id`;rm -rf /"


def test_template_syntax_stays_literal_in_ini(tmp_path):
    inventory = load(
        tmp_path,
        """
        h1 motd="{{ lookup('pipe','id') }}"
        [all:vars]
        banner = "{{ 7 * 7 }}"  # a comment
        raw = {{ 7 * 7 }}
        """,
        "inv.ini",
    )
    assert inventory.host("h1").var("motd") == "{{ lookup('pipe','id') }}"
    assert inventory.host("h1").var("banner") == "{{ 7 * 7 }}"
    assert inventory.host("h1").var("raw") == "{{ 7 * 7 }}"


def test_connection_vars_are_kept_uninterpreted(tmp_path):
    line = (
        "h1 ansible_host=10.0.0.5 ansible_port=2222 ansible_user=ops ansible_become=true "
        "ansible_become_pass='s3 cret' remediate_profile=strict"
    )
    inventory = load(tmp_path, line, "inv.ini")
    assert dict(inventory.host("h1").vars) == {
        "ansible_host": "10.0.0.5",
        "ansible_port": "2222",
        "ansible_user": "ops",
        "ansible_become": "true",
        "ansible_become_pass": "s3 cret",
        "remediate_profile": "strict",
    }


# --- host ranges and names -----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("web[01:03]", ["web01", "web02", "web03"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("n[1:7:3]", ["n1", "n4", "n7"]),
        ("n[:2]", ["n0", "n1", "n2"]),
        ("r[1:2]-[a:b].lan", ["r1-a.lan", "r1-b.lan", "r2-a.lan", "r2-b.lan"]),
    ],
)
def test_host_ranges_expand_in_yaml_and_ini(tmp_path, spec, expected):
    assert list(load(tmp_path, f"g:\n  hosts:\n    '{spec}':\n").hosts) == expected
    assert list(load(tmp_path, f"[g]\n{spec}\n", "inv.ini").hosts) == expected


def test_leading_range_works_in_yaml_but_is_a_section_header_in_ini(tmp_path):
    assert list(load(tmp_path, "g:\n  hosts:\n    '[8:10].example':\n").hosts) == [
        "8.example",
        "9.example",
        "10.example",
    ]
    assert "malformed section header" in fails(tmp_path, "[g]\n[8:10].example\n", "inv.ini")


def test_range_with_port_and_vars(tmp_path):
    inventory = load(tmp_path, "[g]\nweb[1:2]:2222 role=front\n", "inv.ini")
    assert list(inventory.hosts) == ["web1", "web2"]
    assert dict(inventory.host("web2").vars) == {"ansible_port": 2222, "role": "front"}


def test_explicit_port_var_beats_port_in_name(tmp_path):
    inventory = load(tmp_path, "all:\n  hosts:\n    web1:2222:\n      ansible_port: 22\n")
    assert inventory.host("web1").var("ansible_port") == 22


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("web[3:1]", "start is after end"),
        ("web[01:5]", "equal width"),
        ("web[a:5]", "invalid range"),
        ("web[1:]", "invalid range"),
        ("web[1:5:0]", "invalid range"),
        ("web[1:3", "unbalanced"),
        ("web1]", "unbalanced"),
        ("web[0:99999]", "more than 10000 hosts"),
        ("web[0:999][0:999]", "more than 10000 hosts"),
        ("web:99999", "invalid port"),
        ("web:ssh", "invalid port"),
    ],
)
def test_bad_ranges_and_ports_are_refused_with_location(tmp_path, spec, message):
    text = f"# header\n[g]\n{spec}\n"
    error = fails(tmp_path, text, "inv.ini")
    assert "inv.ini:3" in error and message in error


@pytest.mark.parametrize(
    "name",
    ["../etc", "a/b", "-oProxyCommand=x", ".", "..", ".hidden", "host;id", "a b", "h$(id)", "@h", "höst"],
)
def test_hostile_host_names_are_refused(tmp_path, name):
    quoted = name.replace("'", "''")
    error = fails(tmp_path, f"all:\n  hosts:\n    '{quoted}':\n")
    assert "inv.yml:3" in error and "invalid host name" in error


@pytest.mark.parametrize("name", ["a/b", "a b", "-x", "..", "{{x}}"])
def test_hostile_group_names_are_refused(tmp_path, name):
    error = fails(tmp_path, f"'{name}':\n  hosts: {{h1: }}\n")
    assert "inv.yml:1" in error and "invalid group name" in error


def test_non_string_names_must_be_quoted(tmp_path):
    assert "quote it" in fails(tmp_path, "all:\n  hosts:\n    1234:\n")
    assert "quote it" in fails(tmp_path, "2024:\n  hosts: {h1: }\n")


@pytest.mark.parametrize("key", ["bad-name", "1st", "'has space'", "42"])
def test_invalid_var_names_are_refused(tmp_path, key):
    error = fails(tmp_path, f"all:\n  vars:\n    ok: 1\n    {key}: 2\n")
    assert "inv.yml:4" in error and "invalid variable name" in error


def test_host_and_group_with_one_name_are_refused(tmp_path):
    error = fails(tmp_path, "web:\n  hosts:\n    db:\ndb:\n  hosts: {h1: }\n")
    assert "'db' is both a host and a group" in error and "inv.yml:3" in error


# --- YAML shape errors ----------------------------------------------------------


def test_malformed_yaml_reports_line_and_column(tmp_path):
    error = fails(tmp_path, "all:\n  hosts:\n    web1: {a: 1\n    web2:\n")
    assert error.startswith(f"{tmp_path / 'inv.yml'}:4:")
    assert "invalid YAML" in error


def test_tab_indentation_reports_position(tmp_path):
    error = fails(tmp_path, "all:\n\thosts:\n")
    assert "inv.yml:2:1" in error


def test_unknown_group_key_names_allowed_keys(tmp_path):
    error = fails(tmp_path, "all:\n  children:\n    web:\n      host:\n        web1:\n")
    assert "inv.yml:4" in error
    assert "unknown key 'host' in group 'web'" in error
    assert "children, hosts, vars" in error


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("web:\n  vars:\n    - a\n", 2, "'vars' of group 'web' must be a mapping, got a list"),
        ("web:\n  vars: ntp=1\n", 2, "'vars' of group 'web' must be a mapping, got a string"),
        ("web:\n  hosts:\n    - web1\n", 2, "'hosts' of group 'web' must be a mapping"),
        ("web:\n  children: [a, b]\n", 2, "'children' of group 'web' must be a mapping"),
        ("x:\nweb: [web1]\n", 2, "group 'web' must be a mapping"),
        ("web:\n  hosts:\n    web1: ansible_host=1.2.3.4\n", 3, "vars of host 'web1' must be a mapping"),
    ],
)
def test_wrongly_shaped_sections_report_their_line(tmp_path, text, line, message):
    error = fails(tmp_path, text)
    assert f"inv.yml:{line}:" in error and message in error


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_yaml_inventory_says_it_is_empty(tmp_path, text):
    assert "is empty" in fails(tmp_path, text)


@pytest.mark.parametrize("text", ["", "# comment\n; another\n\n"])
def test_empty_ini_inventory_says_it_is_empty(tmp_path, text):
    assert "is empty" in fails(tmp_path, text, "inv.ini")


def test_top_level_must_be_a_mapping(tmp_path):
    assert "top level must be a mapping" in fails(tmp_path, "- web1\n- web2\n")


def test_inventory_plugin_configs_are_refused(tmp_path):
    assert "inv.yml:1: inventory plugin" in fails(tmp_path, "plugin: aws_ec2\nregions: [eu-west-1]\n")


def test_multiple_documents_are_refused(tmp_path):
    assert "invalid YAML" in fails(tmp_path, "a:\n---\nb:\n")


def test_vault_content_is_refused(tmp_path):
    assert "Vault" in fails(tmp_path, "$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    error = fails(tmp_path, "all:\n  vars:\n    pw: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n")
    assert "inv.yml:3" in error and "!vault" in error


def test_non_utf8_file_is_refused(tmp_path):
    (tmp_path / "inv.yml").write_bytes(b"all:\n  hosts:\n    caf\xe9:\n")
    with pytest.raises(InventoryError, match="not UTF-8"):
        load_inventory(tmp_path / "inv.yml")


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(InventoryError, match="does not exist"):
        load_inventory(tmp_path / "nope.yml")
    with pytest.raises(InventoryError, match="not a file"):
        load_inventory(tmp_path)


# --- duplicate keys --------------------------------------------------------------


def test_duplicate_host_key_is_refused_with_both_lines(tmp_path):
    error = fails(tmp_path, "web:\n  hosts:\n    web1:\n    web2:\n    web1:\n")
    assert "inv.yml:5:5" in error and "duplicate key 'web1'" in error and "line 3" in error


def test_duplicate_var_is_refused(tmp_path):
    error = fails(tmp_path, "all:\n  vars:\n    ansible_user: a\n    ansible_user: b\n")
    assert "inv.yml:4" in error and "duplicate key 'ansible_user'" in error


def test_duplicate_top_level_group_is_refused(tmp_path):
    assert "inv.yml:3:1: duplicate key 'web'" in fails(tmp_path, "web:\ndb:\nweb:\n")


def test_merge_keys_may_be_overridden(tmp_path):
    inventory = load(
        tmp_path,
        """
        all:
          hosts:
            h1: &base {ansible_user: ops, ansible_port: 22}
            h2:
              <<: *base
              ansible_port: 2222
        """,
    )
    assert dict(inventory.host("h2").vars) == {"ansible_user": "ops", "ansible_port": 2222}


# --- alias abuse -------------------------------------------------------------------


BILLION_LAUGHS = """\
lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_is_refused_quickly(tmp_path):
    started = time.monotonic()
    error = fails(tmp_path, "all:\n  vars:\n    bomb:\n" + textwrap.indent(BILLION_LAUGHS, "      "))
    assert time.monotonic() - started < 1
    assert "alias bomb" in error and "inv.yml:" in error


def test_billion_laughs_in_vars_file_is_refused(tmp_path):
    write(tmp_path / "group_vars" / "all.yml", BILLION_LAUGHS)
    assert "group_vars/all.yml" in fails(tmp_path, "all:\n  hosts: {h1: }\n")


def test_too_many_aliases_are_refused(tmp_path):
    body = "all:\n  vars:\n    x: &x 1\n    many: [" + ", ".join(["*x"] * 10_001) + "]\n"
    assert "more than 10000 YAML aliases" in fails(tmp_path, body)


def test_recursive_alias_is_refused(tmp_path):
    assert "recursive YAML alias" in fails(tmp_path, "all:\n  vars:\n    loop: &l [*l]\n")


def test_deep_nesting_is_refused(tmp_path):
    deep = "[" * 100 + "]" * 100
    assert "nested deeper than 64" in fails(tmp_path, f"all:\n  vars:\n    deep: {deep}\n")


def test_modest_alias_use_is_fine(tmp_path):
    inventory = load(
        tmp_path,
        """
        all:
          vars:
            common: &common {log_driver: journald, icc: false}
          children:
            web:
              vars: {daemon: *common}
              hosts: {h1: }
        """,
    )
    assert inventory.host("h1").var("daemon") == {"log_driver": "journald", "icc": False}


# --- group graph -------------------------------------------------------------------


def test_yaml_children_cycle_is_refused(tmp_path):
    error = fails(
        tmp_path,
        """
        a:
          children:
            b:
        b:
          children:
            c:
        c:
          children:
            a:
        """,
    )
    assert "group cycle" in error and "inv.yml:10" in error
    assert "a -> b -> c -> a" in error


def test_self_child_is_a_cycle(tmp_path):
    assert "group cycle a -> a" in fails(tmp_path, "a:\n  children:\n    a:\n")


def test_ini_children_cycle_is_refused(tmp_path):
    error = fails(tmp_path, "[a:children]\nb\n[b:children]\na\n", "inv.ini")
    assert "group cycle" in error and "inv.ini:" in error


def test_all_cannot_be_a_child(tmp_path):
    assert "'all' cannot be a child of 'web'" in fails(tmp_path, "web:\n  children:\n    all:\n")


# --- INI specifics ------------------------------------------------------------------


def test_ini_hosts_before_any_section_are_ungrouped(tmp_path):
    inventory = load(tmp_path, "solo\n[web]\nw1\n", "inv.ini")
    assert inventory.host("solo").groups == ("all", "ungrouped")


def test_ini_all_vars_and_repeated_sections_accumulate(tmp_path):
    inventory = load(
        tmp_path,
        """
        [all:vars]
        ansible_user=ops
        [web]
        w1 role=a
        [web:vars]
        tier = front
        [web]
        w2
        w1 extra=yes
        """,
        "inv.ini",
    )
    assert inventory.groups["web"].hosts == ("w1", "w2")
    assert dict(inventory.host("w1").vars) == {
        "ansible_user": "ops",
        "tier": "front",
        "role": "a",
        "extra": "yes",
    }


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[web]\nw1\n[web:host]\n", 3, "unknown section type 'host'"),
        ("[web]\nw1\n[web\n", 3, "malformed section header"),
        ('[web]\nw1 motd="unclosed\n', 2, "No closing quotation"),
        ("[web]\nw1 ansible_host\n", 2, "expected key=value after host 'w1', got 'ansible_host'"),
        ("[web]\nw1\n[web:vars]\njust_a_word\n", 4, "expected key=value in a vars section"),
        ("[web]\nw1\n[web:vars]\nx = 'a' 'b'\n", 4, "a single quoted value"),
        ("[web]\nw1 bad-key=1\n", 2, "invalid variable name 'bad-key'"),
        ("[web]\nw1\n[db:vars]\nx=1\n", 3, "[db:vars] is for a group that is never declared"),
        ("[web]\nw1\n[all:children]\nweb\ndbservers\n", 5, "names group 'dbservers', which is never"),
        ("[web:children]\na b\n", 2, "one group name per line"),
        ("[bad/name]\nw1\n", 1, "invalid group name"),
    ],
)
def test_ini_errors_report_file_and_line(tmp_path, text, line, message):
    error = fails(tmp_path, text, "inv.ini")
    assert f"inv.ini:{line}:" in error and message in error


def test_ini_vars_for_group_declared_later_are_fine(tmp_path):
    inventory = load(tmp_path, "[web:vars]\nx=1\n[web]\nw1\n", "inv.ini")
    assert inventory.host("w1").var("x") == "1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# my hosts\n---\nall:\n  hosts: {h1: }\n", {"h1": {}}),
        ("web:\n  hosts:\n    w1:2222:\n", {"w1": {"ansible_port": 2222}}),
        ("h1 ansible_host=10.0.0.1\n[web]\nw1\n", {"h1": {"ansible_host": "10.0.0.1"}, "w1": {}}),
        ("; comment\n[web]\nw1:2222\n", {"w1": {"ansible_port": 2222}}),
    ],
)
def test_files_without_extension_are_sniffed(tmp_path, text, expected):
    inventory = load(tmp_path, text, "hosts")
    assert {name: dict(host.vars) for name, host in inventory.hosts.items()} == expected


# --- resolve_target ------------------------------------------------------------------


@pytest.fixture
def inventories(tmp_path) -> Path:
    write(tmp_path / "lab.yml", "lab:\n  hosts:\n    lab1:\n    lab2:\nprod:\n  hosts:\n    lab3:\n")
    write(tmp_path / "prod.yml", "web:\n  hosts:\n    p1:\n    p2:\n")
    write(tmp_path / "staging.ini", "[web]\ns1\n")
    write(tmp_path / "edge", "[web]\ne1\n")
    return tmp_path


def test_explicit_inventory_selects_the_pattern(inventories):
    inventory, hosts = resolve_target("web:!p2", inventories / "prod.yml", inventories)
    assert inventory.source == inventories / "prod.yml"
    assert names(hosts) == ["p1"]
    _, hosts = resolve_target("p2", str(inventories / "prod.yml"), inventories)
    assert names(hosts) == ["p2"]


@pytest.mark.parametrize(("word", "expected"), [("prod", ["p1", "p2"]), ("staging", ["s1"]), ("edge", ["e1"])])
def test_bare_word_naming_an_inventory_selects_all_of_it(inventories, word, expected):
    inventory, hosts = resolve_target(word, None, inventories)
    assert names(hosts) == expected
    assert inventory.source.name.startswith(word)


def test_other_patterns_select_in_the_lab_inventory(inventories):
    inventory, hosts = resolve_target("lab:!lab2", None, inventories)
    assert inventory.source == inventories / "lab.yml"
    assert names(hosts) == ["lab1"]
    assert names(resolve_target("lab2", None, inventories)[1]) == ["lab2"]
    assert names(resolve_target("prod:lab", None, inventories)[1]) == ["lab1", "lab2", "lab3"]


def test_unknown_host_in_default_inventory_is_an_error(inventories):
    with pytest.raises(InventoryError, match=r"'lab9'.*lab\.yml"):
        resolve_target("lab9", None, inventories)


def test_ambiguous_inventory_name_is_refused(inventories):
    write(inventories / "prod.ini", "[web]\np1\n")
    with pytest.raises(InventoryError, match=r"ambiguous.*prod\.yml.*prod\.ini"):
        resolve_target("prod", None, inventories)


def test_without_lab_inventory_the_error_lists_inventories(inventories):
    (inventories / "lab.yml").unlink()
    with pytest.raises(InventoryError, match=r"lab\.yml does not exist.*edge, prod\.yml, staging\.ini"):
        resolve_target("web1", None, inventories)


def test_missing_inventories_directory_is_explained(tmp_path):
    with pytest.raises(InventoryError, match=r"directory .*missing does not exist"):
        resolve_target("web1", None, tmp_path / "missing")


def test_bare_word_naming_an_inventory_with_a_same_named_group_selects_that_group(tmp_path):
    write(
        tmp_path / "lab.yml",
        "all:\n  children:\n    lab:\n      hosts:\n        a:\n        b:\n"
        "    jump:\n      hosts:\n        bastion:\n",
    )
    inventory, hosts = resolve_target("lab", None, tmp_path)
    assert inventory.source == tmp_path / "lab.yml"
    assert names(hosts) == ["a", "b"]
