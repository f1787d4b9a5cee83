"""Properties of host patterns on random inventories: set laws, order, and errors that are always InventoryError.

The laws are stated against single-term selections and the inventory's own
membership, never against a second implementation of the matcher.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.errors import InventoryError
from remediate.inventory.builder import InventoryBuilder
from remediate.inventory.model import Inventory

GROUPS = ["web", "db", "eu", "us", "prod"]
HOSTS = ["web1", "web2", "db1", "eu-web3", "h.lan", "10.0.0.1", "fe80::2", "::1", "a@b"]
SOURCE = Path("/nonexistent/remediate-properties/inv.yml")


@st.composite
def inventories(draw) -> Inventory:
    builder = InventoryBuilder(SOURCE)
    groups = draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=len(GROUPS)))
    for name in groups:
        builder.group(name, "inv.yml")
    for i, child in enumerate(groups):  # parents come earlier in the list: no cycles
        for parent in draw(st.lists(st.sampled_from(groups[:i]), unique=True, max_size=2)) if i else []:
            builder.child(parent, child, "inv.yml")
    for host in draw(st.lists(st.sampled_from(HOSTS), unique=True, min_size=1, max_size=len(HOSTS))):
        for group in draw(st.lists(st.sampled_from(["all", *groups]), unique=True, min_size=1, max_size=3)):
            builder.host(host, group, {}, "inv.yml")
    return builder.build()


def terms(inventory: Inventory):
    named = sorted(set(inventory.hosts) | set(inventory.groups))
    return st.sampled_from(named) | st.sampled_from(["web*", "*1", "?b*", "~web", "~.*[0-9]$", "~(db|eu)", "*"])


def chosen(inventory: Inventory, pattern: str) -> set[str]:
    """The names a pattern selects; empty when select refuses an empty result."""
    try:
        hosts = inventory.select(pattern)
    except InventoryError as exc:
        assert "matches no hosts" in str(exc), exc
        return set()
    names = [h.name for h in hosts]
    assert len(names) == len(set(names)), "a host selected twice"
    assert names == [n for n in inventory.hosts if n in names], "not in inventory order"
    return set(names)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_union_intersection_and_exclusion_are_set_operations(data):
    inventory = data.draw(inventories())
    a, b, c = (data.draw(terms(inventory)) for _ in range(3))
    everything = set(inventory.hosts)
    sa, sb, sc = chosen(inventory, a), chosen(inventory, b), chosen(inventory, c)
    assert chosen(inventory, f"{a},{b}") == sa | sb
    assert chosen(inventory, f"{a},&{b}") == sa & sb
    assert chosen(inventory, f"{a},!{b}") == sa - sb
    assert chosen(inventory, f"!{b}") == everything - sb
    assert chosen(inventory, f"&{b}") == sb
    assert chosen(inventory, f"{a},{b},&{c},!{a}") == ((sa | sb) & sc) - sa


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_order_of_terms_and_the_separator_never_matter(data):
    inventory = data.draw(inventories())
    a, b, c = (data.draw(terms(inventory)) for _ in range(3))
    parts = [a, f"&{b}", f"!{c}"]
    reference = chosen(inventory, ",".join(parts))
    for order in (parts, [parts[2], parts[0], parts[1]], [parts[1], parts[2], parts[0]]):
        assert chosen(inventory, ",".join(order)) == reference
        if not any(":" in term for term in (a, b, c)):
            assert chosen(inventory, ":".join(order)) == reference


@settings(max_examples=60, deadline=None)
@given(inventories())
def test_names_select_by_membership(inventory):
    everything = set(inventory.hosts)
    assert chosen(inventory, "all") == everything == chosen(inventory, "*")
    for name in inventory.hosts:
        assert chosen(inventory, name) == {name}
    for group in inventory.groups:
        members = {h.name for h in inventory.hosts.values() if group in h.groups}
        assert chosen(inventory, group) == members
        for child in inventory.groups[group].children:
            assert chosen(inventory, child) <= members


@settings(max_examples=300, deadline=None)
@given(
    inventories(),
    st.text(max_size=30)
    | st.lists(
        st.sampled_from(
            [
                "web",
                "~",
                "!",
                "&",
                ":",
                ",",
                "*",
                "[",
                "]",
                "(",
                ")",
                "+",
                "\\",
                "{",
                "}",
                "fe80::2",
                "all",
                " ",
                "?",
                "\x00",
            ]
        ),
        max_size=12,
    ).map("".join),
)
def test_any_pattern_selects_or_raises_inventory_error(inventory, pattern):
    try:
        hosts = inventory.select(pattern)
    except InventoryError as exc:
        assert str(exc)
    else:
        assert hosts


@pytest.mark.parametrize(
    "pattern", ["~" + "(" * 200 + "a" + ")" * 200, "~" + "(" * 5000, "~a{99999999999}", "~(?P<x>a)(?P<x>b)", "~\\"]
)
def test_pathological_regexes_are_inventory_errors(pattern):
    builder = InventoryBuilder(SOURCE)
    builder.host("web1", "all", {}, "inv.yml")
    with pytest.raises(InventoryError):
        builder.build().select(pattern)


def test_an_ipv6_name_cut_by_a_colon_separator_says_to_use_commas():
    builder = InventoryBuilder(SOURCE)
    builder.host("fe80::2", "all", {}, "inv.yml")
    builder.host("web1", "all", {}, "inv.yml")
    inventory = builder.build()
    with pytest.raises(InventoryError, match="'fe80::2' holds ':' and was split: separate the terms with ','"):
        inventory.select("all:!fe80::2")
    assert [h.name for h in inventory.select("all,!fe80::2")] == ["web1"]
