"""The typed facts (remediate.facts.typed), parsed from output captured on lab hosts on 20.10, 26.1 and 28.5.

Each parser is run on the captured CommandFact it parses, and its value checked as plain typed data.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from remediate.facts import typed
from remediate.facts.dirs import DirChain
from remediate.facts.model import CommandFact, HostFacts
from remediate.facts.parse import Listener

FIXTURES = Path(__file__).parents[1] / "fixtures" / "facts"
CAPTURES = sorted(p.relative_to(FIXTURES).with_suffix("").as_posix() for p in FIXTURES.glob("**/*.json"))
ENGINES = {
    "20.10": "engines/hardened-respelled-20.10",
    "26.1": "engines/hardened-26.1",
    "28.5": "engines/hardened-28.5",
}


def raw(name: str) -> HostFacts:
    return HostFacts.from_json(json.loads((FIXTURES / f"{name}.json").read_text()))


def command(name: str, fact: str) -> CommandFact:
    return raw(name).command(fact)


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_parses_into_json_data_once_loaded(name):
    facts = raw(name)
    assert facts.parsed == typed.parse_commands(facts.command)
    assert json.loads(json.dumps(typed.as_json(facts.parsed)))["service"]["fragment_path"].endswith("docker.service")


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_service_unit_of_each_engine(engine):
    service = typed.unit(command(ENGINES[engine], "service"))
    assert (service.known, service.load_state, service.active_state) == (True, "loaded", "active")
    # the 26.1 and 28.5 captures' packages install the unit under /usr/lib
    unit_dir = "/lib" if engine == "20.10" else "/usr/lib"
    assert service.files == [f"{unit_dir}/systemd/system/docker.service"] and not service.masked
    assert service.exec_paths == ("/usr/sbin/dockerd",)
    assert service.exec_start[0].startswith("/usr/sbin/dockerd -H fd://")
    assert service.environment_files == (("/etc/default/docker", True),)


def test_socket_unit_listeners_owner_and_mode():
    socket = typed.unit(command("tcp-socket-unit", "socket"))
    assert socket.listen == ("/run/docker.sock", "[::]:2375")
    stock = typed.unit(command("stock", "socket"))
    assert (stock.socket_mode, stock.socket_user, stock.socket_group) == ("0660", "root", "docker")


def test_a_unit_systemctl_did_not_report_is_unknown():
    assert typed.unit(CommandFact(127, "", "not gathered")) == typed.Unit()


@pytest.mark.parametrize(
    ("engine", "version"), [("20.10", "20.10.24+dfsg1"), ("26.1", "26.1.5+dfsg1"), ("28.5", "28.5.2+dfsg4")]
)
def test_dockerd_version_of_each_engine(engine, version):
    found = typed.dockerd_version(command(ENGINES[engine], "dockerd_version"))
    assert (found.installed, found.version) == (True, version) and version in found.text
    assert typed.dockerd_version(CommandFact(127, "")) == typed.DockerdVersion()


@pytest.mark.parametrize("name", ["broken-json", "engines/broken-json-26.1", "engines/broken-json-28.5"])
def test_a_down_dockerd_has_no_info_no_cmdline_and_a_journal(name):
    facts = raw(name)
    assert typed.dockerd_cmdline(facts.command("dockerd_cmdline")) is None
    assert facts.parsed.docker_info is None and facts.parsed.swarm_state == "inactive"
    journal = typed.journal(facts.command("journal"))
    assert journal and all(line.strip() and line == line.rstrip() for line in journal)
    assert any("daemon.json" in line for line in journal)


def test_cmdline_is_the_running_dockerds_argv():
    argv = typed.dockerd_cmdline(command("tcp-daemon-json", "dockerd_cmdline"))
    assert argv is not None and argv[:2] == ("/usr/sbin/dockerd", "--containerd=/run/containerd/containerd.sock")


def test_containers_with_processes_and_recorded_no_new_privileges():
    containers = typed.containers(command("risky-containers", "containers"))
    assert containers.listed and len(containers.items) == 8
    assert all(isinstance(c["Id"], str) and "Env" not in c for c in containers.items)
    assert set(containers.no_new_privileges) <= {c["Id"] for c in containers.items}
    assert all(isinstance(v, bool) for v in containers.no_new_privileges.values())


def test_images_are_listed_once_each():
    images = typed.images(command("engines/swarm-28.5", "images"))
    assert images.listed and len(images.items) == 2 == len({i["Id"] for i in images.items})


@pytest.mark.parametrize(
    ("name", "state"), [("swarm", "active"), ("engines/swarm-28.5", "active"), ("engines/swarm-locked-28.5", "locked")]
)
def test_swarm_state_networks_and_node(name, state):
    facts = raw(name)
    assert facts.parsed.swarm_state == state and facts.parsed.in_swarm
    node = typed.swarm_node(facts.command("swarm_node"))
    assert node.read and isinstance(node.state, dict) and node.state
    networks = typed.listing(facts.command("swarm_networks"))
    assert all(n.get("Name") for n in networks.items)


def test_a_failed_listing_keeps_its_error():
    failed = typed.listing(CommandFact(3, "", "Error response from daemon: This node is not a swarm manager.\n"))
    assert failed == typed.Listing(False, (), "Error response from daemon: This node is not a swarm manager.")


def test_listeners_name_their_processes():
    listeners = typed.PARSERS["listeners"][1](command("tcp-socket-unit", "listeners"))
    assert all(isinstance(lst, Listener) for lst in listeners)
    assert [(lst.port, lst.process) for lst in listeners if lst.port == 2375] == [(2375, "dockerd,systemd")]


def test_auditctl_rules_and_no_rules():
    assert typed.auditctl(CommandFact(0, "No rules\n")) == typed.Auditctl(True, True, None)
    loaded = typed.auditctl(CommandFact(0, "-w /usr/bin/dockerd -p rwxa -k docker\n\n-w /etc/docker -k docker\n"))
    assert loaded.rules == ("-w /usr/bin/dockerd -p rwxa -k docker", "-w /etc/docker -k docker")
    assert typed.auditctl(CommandFact(127, "")) == typed.Auditctl()


def test_docker_group_members():
    assert typed.docker_group(command("stock", "docker_group")) == typed.DockerGroup(True, True, ())
    assert typed.docker_group(CommandFact(0, "docker:x:998:ops,ci\n")).members == ("ops", "ci")
    assert typed.docker_group(CommandFact(2, "")) == typed.DockerGroup(True, False, ())


def test_content_trust_assignments():
    grep = (
        "/etc/environment:DOCKER_CONTENT_TRUST=1\n/etc/profile:# DOCKER_CONTENT_TRUST=1\n"
        '/etc/bash.bashrc:export DOCKER_CONTENT_TRUST="0"\n'
    )
    assert typed.content_trust(CommandFact(0, grep)) == (
        typed.ContentTrust("/etc/environment:DOCKER_CONTENT_TRUST=1", "1"),
        typed.ContentTrust('/etc/bash.bashrc:export DOCKER_CONTENT_TRUST="0"', "0"),
    )


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_host_facts_of_each_engine(engine):
    parsed = raw(ENGINES[engine]).parsed
    assert parsed.falco == ("inactive",) * 4 and parsed.apparmor is False and parsed.user == "root"
    assert parsed.binaries["dockerd"].endswith("/dockerd")
    assert isinstance(parsed.dir_chain, DirChain) and parsed.dir_chain.resolved["/etc/docker"] == "/etc/docker"
    assert parsed.audit_dirs and all(real.startswith("/") for real in parsed.audit_dirs.values())
    assert all(isinstance(e, tuple) for e in parsed.dir_chain.entries.values())


def test_an_edited_command_is_parsed_again_alone():
    facts = raw("stock")
    facts.parsed = replace(facts.parsed, ip_forward="0")  # as the plan's simulation sets a typed value
    facts.commands["selinux"] = CommandFact(0, "Enforcing\n")
    assert (facts.parsed.selinux, facts.parsed.ip_forward) == ("Enforcing", "0")
