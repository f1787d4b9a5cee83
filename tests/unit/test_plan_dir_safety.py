"""The planner never plans root's chown/chmod/write where a user could swap the path for a link (issue 12,
attack 1), judged from the `dir_chain` fact as captured on a lab host (tests/fixtures/dir_chain/): the
loose-perms host, with /home/ops/certs owned by ops and /etc/docker/certs-link -> /home/ops/certs."""

from __future__ import annotations

import json
from pathlib import Path

from remediate.facts.dirs import parse_dir_chain
from remediate.facts.model import CommandFact, FileFact
from remediate.plan import plan_host
from remediate.plan.simulate import copy_facts
from tests.plan_fixtures import load, policy, with_file

CAPTURED = (Path(__file__).parents[1] / "fixtures" / "dir_chain" / "loose-perms.txt").read_text()


def loose_perms_with(daemon: dict, *files: tuple[str, bytes, int, str]):
    facts = with_file(load("loose-perms"), "/etc/docker/daemon.json", json.dumps(daemon).encode() + b"\n", 0o666)
    facts = copy_facts(facts)
    facts.commands["dir_chain"] = CommandFact(0, CAPTURED)
    for path, content, mode, owner in files:
        facts.files[path] = FileFact(
            path=path,
            kind="file",
            mode=mode,
            uid=1000,
            gid=1000,
            owner=owner,
            group=owner,
            size=len(content),
            content=None,
        )
    return facts


def test_the_captured_chain_is_judged_as_the_host_script_judges_it():
    chain = parse_dir_chain(CAPTURED)
    assert chain.why_unsafe("/home/ops/certs") == "/home/ops/certs is owned by uid 1000, not root"
    assert chain.why_unsafe("/etc/docker/certs-link") == "/etc/docker is writable by users other than root"
    tightened = frozenset({"/etc/docker"})  # root's link, but into a user's directory: judged where it leads
    assert chain.why_unsafe("/etc/docker/certs-link", tightened) == "/home/ops/certs is owned by uid 1000, not root"
    assert chain.why_unsafe("/etc/docker") == "/etc/docker is writable by users other than root"
    assert chain.why_unsafe("/etc/docker", frozenset({"/etc/docker"})) is None
    assert chain.why_unsafe("/lib/systemd/system") is None  # /lib is root's link to usr/lib
    assert chain.why_unsafe("/etc/audit/rules.d") is None  # not there yet: judged by what leads to it
    assert chain.why_unsafe("/srv/never/asked") is None  # not probed: the host script still judges it


def test_a_forged_line_cannot_hide_an_unsafe_directory():
    forged = CAPTURED + "stat 0 41ed /home/ops\n"  # what a directory named "x\nstat 0 41ed /home/ops" prints
    assert parse_dir_chain(forged).why_unsafe("/home/ops/certs") == "/home/ops/certs is owned by uid 1000, not root"
    assert "/home/ops is owned by uid 1000" in parse_dir_chain(
        CAPTURED.replace("stat 1000 41ed /home/ops/certs\n", "")
    ).why_unsafe("/home/ops/certs")


def test_a_tls_file_in_a_users_home_is_held_back_and_the_rest_of_the_plan_goes_on():
    facts = loose_perms_with({"tlscacert": "/home/ops/certs/ca.pem"}, ("/home/ops/certs/ca.pem", b"", 0o666, "ops"))
    plan = plan_host(facts, policy())
    assert plan.refused is None
    assert "/home/ops/certs/ca.pem" not in [c.path for c in plan.changes]
    held = {h.what: h for h in plan.held_back}
    assert held["/home/ops/certs/ca.pem"].reason.startswith("/home/ops/certs is owned by uid 1000, not root")
    assert "no option accepts this" in held["/home/ops/certs/ca.pem"].how_to_accept
    # /etc/docker is 0777, but this plan tightens it first: daemon.json in it is still rewritten
    paths = [c.path for c in plan.changes]
    assert "/etc/docker" in paths and "/etc/docker/daemon.json" in paths


def test_a_plan_that_would_write_where_a_user_can_swap_files_is_refused():
    facts = loose_perms_with({})
    facts.commands["dir_chain"] = CommandFact(0, CAPTURED + "stat 1000 41ed /etc/audit\n")  # a user's /etc/audit
    plan = plan_host(facts, policy())
    assert plan.refused and "/etc/audit/rules.d/docker.rules: /etc/audit is owned by uid 1000" in plan.refused
    assert not plan.changes


def test_facts_without_the_probe_plan_as_before():
    assert plan_host(load("loose-perms"), policy()).changes
