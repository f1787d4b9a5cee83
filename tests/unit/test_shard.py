"""`--shard K/N` (remediate/inventory/shard.py): a stable part of the matched hosts, from the host's name alone."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoke import Config, Context, Exit

from remediate import app, cli
from remediate.inventory.shard import Shard, ShardError, parse_shard, shard_of
from remediate.target import Target

NAMES = [f"web-{n:03d}" for n in range(200)] + ["db1", "db2", "bastion", "stock", "hardened"]
host_names = st.lists(st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True), unique=True, max_size=60)


def hosts(names):
    return [SimpleNamespace(name=n) for n in names]


def test_a_host_name_always_maps_to_the_same_shard():
    """sha256 of the name mod N, counted from 1: pinned, so a change of the rule is seen (shards move)."""
    assert (shard_of("stock", 3), shard_of("hardened", 3), shard_of("db1", 3)) == (2, 3, 1)
    assert {shard_of(name, 7) for name in NAMES} == set(range(1, 8))
    assert {shard_of(name, 1) for name in NAMES} == {1}


@given(host_names, st.integers(min_value=1, max_value=9), st.randoms())
def test_every_host_is_in_exactly_one_shard_whatever_the_order(names, count, rnd):
    shards = [Shard(k, count).select(hosts(names)) for k in range(1, count + 1)]
    assert sorted(h.name for part in shards for h in part) == sorted(names)
    shuffled = list(names)
    rnd.shuffle(shuffled)
    for k, part in enumerate(shards, start=1):
        again = [h.name for h in Shard(k, count).select(hosts(shuffled))]
        assert sorted(again) == sorted(h.name for h in part)  # the same hosts...
        assert again == [n for n in shuffled if n in again]  # ...in the order they were given


def test_one_shard_keeps_every_host_in_order():
    names = list(NAMES)
    random.Random(4).shuffle(names)
    assert [h.name for h in Shard(1, 1).select(hosts(names))] == names


def test_a_host_stays_in_its_shard_when_others_join_or_leave():
    before = {n for n in NAMES if Shard(2, 5).holds(n)}
    after = {h.name for h in Shard(2, 5).select(hosts([*NAMES[::3], "new-1", "new-2"]))}
    assert after - {"new-1", "new-2"} == before & set(NAMES[::3])


@pytest.mark.parametrize(
    ("text", "env", "wanted"),
    [
        ("1/1", {}, Shard(1, 1)),
        ("3/7", {}, Shard(3, 7)),
        (" 2 / 4 ", {}, Shard(2, 4)),
        ("auto/4", {"JOB_COMPLETION_INDEX": "0"}, Shard(1, 4)),
        ("auto/4", {"JOB_COMPLETION_INDEX": "3"}, Shard(4, 4)),
    ],
)
def test_shard_specs(text, env, wanted):
    assert parse_shard(text, env) == wanted
    assert str(wanted) == f"{wanted.number}/{wanted.count}"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("0/3", {}, r"K must be between 1 and 3 \(shards count from 1\)"),
        ("4/3", {}, "K must be between 1 and 3"),
        ("1/0", {}, "N must be at least 1"),
        ("2", {}, "give K/N"),
        ("-1/3", {}, "give K/N"),
        ("a/b", {}, "give K/N"),
        ("auto/3", {}, r"\$JOB_COMPLETION_INDEX .* which is not set"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "x"}, r"which is 'x', not a number"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "3"}, r"\$JOB_COMPLETION_INDEX=3 is not below N=3"),
    ],
)
def test_bad_shard_specs_are_user_errors(text, env, message):
    with pytest.raises(ShardError, match=message):
        parse_shard(text, env)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yml"
    path.write_text("all:\n  hosts:\n" + "".join(f"    {n}:\n      ansible_port: 1\n" for n in NAMES[:30]))
    return path


def test_a_sharded_target_resolves_to_its_shard_only(inventory):
    whole = [h.name for h in Target(hosts="all", inventory=str(inventory)).resolve()[1]]
    parts = [
        [h.name for h in Target(hosts="all", inventory=str(inventory), shard=Shard(k, 3)).resolve()[1]]
        for k in (1, 2, 3)
    ]
    assert sorted(name for part in parts for name in part) == sorted(whole) and all(parts)
    _, fleet = Target(hosts="all", inventory=str(inventory), shard=Shard(2, 3)).fleet(read_only=True)
    assert [h.name for h in fleet.hosts] == parts[1]


def test_harden_refuses_a_shard_unless_it_is_a_dry_run(inventory):
    target = Target(hosts="all", inventory=str(inventory), shard=Shard(1, 3), known_hosts=[])
    with pytest.raises(ShardError, match="only a dry run is sharded"):
        app.harden(target, app.HardenOptions())


@pytest.mark.parametrize("task", [cli.audit, cli.facts, cli.harden])
@pytest.mark.parametrize(
    ("option", "message"),
    [({"shard": "0/3"}, "--shard '0/3': K must be between 1 and 3"), ({"processes": "0"}, "--processes '0'")],
)
def test_the_tasks_exit_1_with_the_reason_for_a_bad_shard_or_processes(task, option, message, inventory, tmp_path):
    context = Context(Config(overrides={"remediate": {"root": str(tmp_path)}}))
    with pytest.raises(Exit) as exit_:
        task(context, hosts="all", inventory=str(inventory), **option)
    assert exit_.value.code == 1 and message in str(exit_.value.message)
