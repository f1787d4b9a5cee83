"""Values derived from a host's facts are built once per host, and never outlive the facts they came from.

The effective dockerd configuration is read by the checks, the planner, its simulation and validation;
HostFacts.derived builds it once while the files and typed facts stay the same. A simulated copy (the host after
a plan) and any edit of the facts must see their own value, never the one derived before.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from remediate import checks
from remediate.apply.validation import validate_on_host, validation_spec
from remediate.audit import audit_host
from remediate.facts.dockerd_inputs import daemon_json_path, dockerd_inputs, effective_config
from remediate.facts.model import CommandFact, FileFact
from remediate.plan import apply_plan, plan_host
from remediate.plan.simulate import simulated
from remediate.plan.view import HostView
from tests.plan_fixtures import SCENARIOS, load, policy

DAEMON_JSON = "/etc/docker/daemon.json"


def test_the_effective_configuration_is_built_once_per_host_state():
    facts = load("stock")
    first = effective_config(facts)
    assert effective_config(facts) is first
    assert dockerd_inputs(facts) is dockerd_inputs(facts)
    assert daemon_json_path(facts) == DAEMON_JSON


def test_a_file_written_since_rebuilds_it():
    facts = load("stock")
    before = effective_config(facts)
    assert before.value("icc") is True
    facts.files[DAEMON_JSON] = FileFact(path=DAEMON_JSON, kind="file", mode=0o644, content=b'{"icc": false}\n')
    after = effective_config(facts)
    assert after is not before and after.value("icc") is False


def test_a_command_or_typed_fact_changed_since_rebuilds_it():
    facts = load("stock")
    before = effective_config(facts)
    version = facts.command("dockerd_version")
    facts.commands["dockerd_version"] = CommandFact(0, version.stdout.replace("20.10.24", "26.1.5"))
    assert effective_config(facts).version.startswith("26.1.5")
    facts.parsed = replace(facts.parsed, dockerd_cmdline=None)
    assert effective_config(facts) is not before and not effective_config(facts).drift


def test_a_simulated_copy_sees_the_planned_files_not_the_configuration_before():
    facts = load("stock")
    before = effective_config(facts)
    plan = plan_host(facts, policy())
    post = simulated(facts, plan)
    assert post is not facts and simulated(facts, plan) is post
    assert effective_config(post).value("icc") is False and before.value("icc") is True
    assert effective_config(facts) is before  # the simulation changed nothing of the facts it copied
    assert json.loads(post.file(DAEMON_JSON).content) == json.loads(plan.change(DAEMON_JSON).after)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_shared_simulation_is_what_a_fresh_one_gives(name):
    """Validation reads the planner's simulated copy: it must equal simulating the plan from scratch."""
    facts = load(name)
    plan = plan_host(facts, policy())
    if plan.refused or plan.empty:
        return
    fresh = apply_plan(load(name), plan)
    shared = simulated(facts, plan)
    assert shared.files == fresh.files and shared.parsed == fresh.parsed
    assert effective_config(shared).to_dict() == effective_config(fresh).to_dict()
    assert validation_spec(facts, plan) == validation_spec(load(name), plan)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fixable_checks_alone_fail_as_they_do_among_every_check(name):
    """The planner's simulated host evaluates only the fixable checks; their results are the same."""
    post = apply_plan(load(name), plan_host(load(name), policy()))
    every = HostView(post, policy())
    fixable = HostView(post, policy(), fixable_only=True)
    assert fixable.results == {i: r for i, r in every.results.items() if r.check.fixable}


def test_a_host_done_with_keeps_no_derived_values():
    """A fleet keeps every host's facts until the run ends: the audit and validation (planning's last step) drop
    what was derived from them, so it is built again if asked for, never kept for the whole run."""
    facts = load("stock")
    during = effective_config(facts)
    audit_host(facts, policy(), checks.select(), "stock")
    assert effective_config(facts) is not during
    during = effective_config(facts)
    plan = plan_host(facts, policy())
    assert simulated(facts, plan) is simulated(facts, plan)
    validate_on_host(None, facts, replace(plan, refused="refused here"), become=False)  # no host asked
    assert effective_config(facts) is not during
