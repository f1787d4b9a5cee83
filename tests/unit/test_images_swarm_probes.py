"""The image and swarm snippets: they ask docker only what docker info says there is to ask, and never Env."""

from __future__ import annotations

import subprocess

from remediate.facts import parse
from remediate.facts.probes import SNIPPET_INPUTS, SNIPPETS

FAKE_DOCKER = """#!/bin/sh
echo "docker $1 $2" >> "$LOG"
case "$1 $2" in
  "images -q") echo sha256:b; echo sha256:a; echo sha256:b;;
  "ps -aq") echo c1;;
  "network ls") echo n1;;
  "service ls") echo s1;;
esac
"""
INFO = (
    '{"ID":"X","Containers":0,"ContainersRunning":0,"Images":0,"DockerRootDir":"ROOT",'
    '"Swarm":{"LocalNodeState":"inactive","ControlAvailable":false}}'
)


def _run(name, tmp_path, info, fake_docker=FAKE_DOCKER):
    fake = tmp_path / "fake"
    fake.mkdir(exist_ok=True)
    (fake / "docker").write_text(fake_docker)
    (fake / "docker").chmod(0o755)
    log = tmp_path / "calls"
    log.write_text("")
    (tmp_path / "info").write_text(info.replace("ROOT", str(tmp_path)))
    env = {"PATH": f"{fake}:/usr/bin:/bin", "LOG": str(log), "INFO": str(tmp_path / "info")}
    result = subprocess.run(
        ["/bin/sh", "-c", SNIPPETS[name]], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return result, log.read_text()


def test_images_are_inspected_once_each_only_when_docker_info_counted_some(tmp_path):
    assert SNIPPET_INPUTS["images"] == {"INFO": "docker_info"}
    assert _run("images", tmp_path, INFO)[1] == ""
    assert _run("images", tmp_path, "")[1] == ""  # no daemon answered: nothing to ask
    result, calls = _run("images", tmp_path, INFO.replace('"Images":0', '"Images":3'))
    assert result.returncode == 0
    assert calls.splitlines() == ["docker images -q", "docker image inspect"]  # no containers: no ps
    # with containers too: which image each runs is in the containers probe's inspect, never asked again here
    result, calls = _run(
        "images", tmp_path, INFO.replace('"Images":0', '"Images":3').replace('"Containers":0', '"Containers":1')
    )
    assert calls.splitlines() == ["docker images -q", "docker image inspect"]


def test_a_failed_image_listing_is_a_failure_not_an_empty_store(tmp_path):
    result, _ = _run("images", tmp_path, INFO.replace('"Images":0', '"Images":3'))
    assert result.returncode == 0
    failing = "#!/bin/sh\necho 'permission denied' >&2; exit 1\n"
    result, _ = _run("images", tmp_path, INFO.replace('"Images":0', '"Images":3'), failing)
    assert result.returncode != 0


def test_an_image_with_several_tags_is_one_image():
    text = '{"Id":"sha256:a","RepoTags":["x:1","x:2"]}\n{"Id":"sha256:a","RepoTags":["x:1","x:2"]}\n'
    assert [i["Id"] for i in parse.images(text)] == ["sha256:a"]


def test_the_image_template_asks_for_the_fields_the_checks_need_and_never_env():
    snippet = SNIPPETS["images"]
    for field in ("Id", "RepoTags", "RepoDigests", "Created", '"User"', '"Healthcheck"'):
        assert field in snippet
    assert "Env" not in snippet and "Env" not in SNIPPETS["swarm_services"]


def test_swarm_snippets_run_only_on_a_swarm_node_and_services_only_on_a_manager(tmp_path):
    for name in ("swarm_networks", "swarm_node", "swarm_services"):
        assert SNIPPET_INPUTS[name] == {"INFO": "docker_info"}
        assert _run(name, tmp_path, INFO)[1] == ""
        assert _run(name, tmp_path, INFO.replace('"inactive"', '""'))[1] == ""
    worker = INFO.replace('"inactive"', '"active"')
    manager = worker.replace('"ControlAvailable":false', '"ControlAvailable":true')
    assert _run("swarm_networks", tmp_path, worker)[1].splitlines() == ["docker network ls", "docker network inspect"]
    assert _run("swarm_services", tmp_path, worker)[1] == ""
    assert _run("swarm_services", tmp_path, manager)[1].splitlines() == ["docker service ls", "docker service inspect"]
    # locked: a manager whose swarm commands fail until unlocked; the node's state file is still read
    (tmp_path / "swarm").mkdir()
    (tmp_path / "swarm" / "docker-state.json").write_text('{"AdvertiseAddr":"10.0.0.1:2377","DataPathAddr":""}')
    result, calls = _run("swarm_node", tmp_path, INFO.replace('"inactive"', '"locked"'))
    assert (result.returncode, calls) == (0, "")
    assert '"AdvertiseAddr":"10.0.0.1:2377"' in result.stdout
