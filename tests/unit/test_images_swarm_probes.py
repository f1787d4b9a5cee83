"""The image and swarm snippets: they ask docker only what docker info says there is to ask, and never Env."""

from __future__ import annotations

import subprocess

from remediate.facts import parse
from remediate.facts.probes import (
    CONTAINER_TEMPLATE,
    IMAGE_TEMPLATE,
    SNIPPET_ENV,
    SNIPPET_HANDOFFS,
    SNIPPET_INPUTS,
    SNIPPETS,
)

# `docker inspect` prints one line per object as the probes' templates would: "image<TAB>" before an image's.
FAKE_DOCKER = """#!/bin/sh
echo "docker $1 $2" >> "$LOG"
case "$1 $2" in
  "images -q") echo sha256:b; echo sha256:a; echo sha256:b;;
  "ps -aq") echo c1;;
  "network ls") echo n1;;
  "service ls") echo s1;;
  "inspect --format") shift 3; for a; do case $a in sha256:*) printf 'image\\t{"Id":"%s"}\\n' "$a";;
    *) printf '{"Id":"%s"}\\n' "$a";; esac; done;;
  "image inspect") shift 3; for a; do printf '{"Id":"%s"}\\n' "$a"; done;;
esac
"""
INFO = (
    '{"ID":"X","Containers":0,"ContainersRunning":0,"Images":0,"DockerRootDir":"ROOT",'
    '"Swarm":{"LocalNodeState":"inactive","ControlAvailable":false}}'
)


def _run(name, tmp_path, info, fake_docker=FAKE_DOCKER, log_reset=True):
    fake = tmp_path / "fake"
    fake.mkdir(exist_ok=True)
    (fake / "docker").write_text(fake_docker)
    (fake / "docker").chmod(0o755)
    log = tmp_path / "calls"
    if log_reset:
        log.write_text("")
    (tmp_path / "info").write_text(info.replace("ROOT", str(tmp_path)))
    env = {"PATH": f"{fake}:/usr/bin:/bin", "LOG": str(log), "INFO": str(tmp_path / "info")}
    env |= {"HANDOFF": str(tmp_path / "listed"), "LISTED": str(tmp_path / "listed"), **SNIPPET_ENV.get(name, {})}
    result = subprocess.run(
        ["/bin/sh", "-c", SNIPPETS[name]], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return result, log.read_text()


def _both(tmp_path, info, fake_docker=FAKE_DOCKER):
    """The containers probe, then the images probe reading what it left: (containers, images, docker calls)."""
    for leftover in tmp_path.glob("listed.*"):
        leftover.unlink()
    containers, _ = _run("containers", tmp_path, info, fake_docker)
    images, calls = _run("images", tmp_path, info, fake_docker, log_reset=False)
    return containers, images, calls.splitlines()


def test_images_are_inspected_once_each_only_when_docker_info_counted_some(tmp_path):
    assert SNIPPET_HANDOFFS["images"] == {"LISTED": "containers"} and "images" not in SNIPPET_INPUTS
    for info in (INFO, ""):  # none counted; no daemon answered: nothing to ask about images
        containers, images, calls = _both(tmp_path, info)
        assert "docker images" not in calls and (images.returncode, images.stdout) == (0, "")
    containers, images, calls = _both(tmp_path, INFO.replace('"Images":0', '"Images":3'))
    assert (containers.returncode, containers.stdout, images.returncode) == (0, "", 0)
    assert calls == ["docker images -q", "docker image inspect"]  # no containers: no ps, images inspected alone
    assert parse.json_lines(images.stdout) == [{"Id": "sha256:b"}, {"Id": "sha256:a"}, {"Id": "sha256:b"}]
    # with containers too: ONE docker inspect for both kinds, each probe printing its own
    containers, images, calls = _both(
        tmp_path, INFO.replace('"Images":0', '"Images":3').replace('"Containers":0', '"Containers":1')
    )
    assert calls == ["docker images -q", "docker ps -aq", "docker inspect --format"]
    assert (containers.returncode, parse.json_lines(containers.stdout)) == (0, [{"Id": "c1"}])
    assert (images.returncode, [i["Id"] for i in parse.images(images.stdout)]) == (0, ["sha256:b", "sha256:a"])


def test_a_failed_joint_inspect_inspects_each_kind_alone_and_each_probe_reports_its_own(tmp_path):
    """An object removed between listing and inspect fails the joint inspect: then each kind is asked alone."""
    fake = FAKE_DOCKER.replace('"inspect --format") shift 3;', '"inspect --format") [ $# -gt 4 ] && exit 1; shift 3;')
    info = INFO.replace('"Images":0', '"Images":3').replace('"Containers":0', '"Containers":1')
    containers, images, calls = _both(tmp_path, info, fake)
    assert calls == [
        "docker images -q",
        "docker ps -aq",
        "docker inspect --format",
        "docker image inspect",
        "docker inspect --format",
    ]
    assert (containers.returncode, parse.json_lines(containers.stdout)) == (0, [{"Id": "c1"}])
    assert (images.returncode, [i["Id"] for i in parse.images(images.stdout)]) == (0, ["sha256:b", "sha256:a"])
    gone = fake.replace('"image inspect") shift 3;', '"image inspect") echo "No such image" >&2; exit 1;')
    containers, images, _ = _both(tmp_path, info, gone)
    assert (containers.returncode, images.returncode, images.stderr) == (0, 3, "No such image\n")


def test_a_failed_image_listing_is_a_failure_not_an_empty_store(tmp_path):
    _containers, images, _ = _both(tmp_path, INFO.replace('"Images":0', '"Images":3'))
    assert images.returncode == 0
    failing = "#!/bin/sh\necho 'permission denied' >&2; exit 1\n"
    containers, images, _ = _both(tmp_path, INFO.replace('"Images":0', '"Images":3'), failing)
    assert (images.returncode, images.stderr, containers.returncode) == (3, "permission denied\n", 0)


def test_an_image_with_several_tags_is_one_image():
    text = '{"Id":"sha256:a","RepoTags":["x:1","x:2"]}\n{"Id":"sha256:a","RepoTags":["x:1","x:2"]}\n'
    assert [i["Id"] for i in parse.images(text)] == ["sha256:a"]


def test_the_image_template_asks_for_the_fields_the_checks_need_and_never_env():
    for field in ("Id", "RepoTags", "RepoDigests", "Created", '"User"', '"Healthcheck"'):
        assert field in IMAGE_TEMPLATE
    assert SNIPPET_ENV["containers"]["REMEDIATE_IMAGE_TEMPLATE"] == IMAGE_TEMPLATE
    assert SNIPPET_ENV["containers"]["REMEDIATE_CONTAINER_TEMPLATE"] == CONTAINER_TEMPLATE
    for text in (IMAGE_TEMPLATE, CONTAINER_TEMPLATE, SNIPPETS["containers"], SNIPPETS["images"]):
        assert "Env" not in text
    assert "Env" not in SNIPPETS["swarm_services"]


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
