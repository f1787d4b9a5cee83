"""policies_for (remediate/policy.py): a fleet's policies are resolved up front, and hosts with the same policy vars
share one Policy, so a 5,000-host run holds a few, not one a host."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from remediate.errors import PolicyError
from remediate.policy import policies_for, policy_for

WAIVER = {"check": "2.9", "hosts": "web*", "reason": "CHG-1", "expires": dt.date(2027, 3, 31)}


def host(name: str, **host_vars) -> SimpleNamespace:
    return SimpleNamespace(name=name, vars={"ansible_host": f"10.0.0.{len(name)}", **host_vars})


def test_hosts_with_the_same_policy_vars_share_one_policy_equal_to_their_own():
    hosts = [
        host("web1", remediate_waivers=[WAIVER]),
        host("web22", remediate_waivers=[dict(WAIVER)]),  # an equal value, another object
        host("db1"),
        host("db22", ansible_user="ops"),  # vars policy_for does not read
        host("ci1", remediate_policy={"daemon": {"icc": True}}),
    ]
    policies = policies_for(hosts, "default")
    assert list(policies) == ["web1", "web22", "db1", "db22", "ci1"]
    assert policies["web1"] is policies["web22"] and policies["db1"] is policies["db22"]
    assert len({id(p) for p in policies.values()}) == 3
    for h in hosts:
        assert policies[h.name] == policy_for(dict(h.vars), "default")


def test_a_bad_policy_on_any_host_stops_the_run_before_it_starts():
    with pytest.raises(PolicyError, match="remediate_waivers"):
        policies_for([host("web1"), host("web2", remediate_waivers="all")])
