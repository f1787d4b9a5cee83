"""Every Docker engine the lab has (20.10, 26.1, newest): each scenario holds on it, docker-ce's layout
included, and its hosts can run what real hosts run, userns-remap containers too (pivot_root, not chroot).

One lab per engine, booted in turn (never two at once on a small machine) and torn down after its tests.
"""

from __future__ import annotations

import pytest

from remediate.errors import LabError
from remediate.lab import image, scenarios
from remediate.lab.fleet import OPTIONAL_SCENARIOS, SCENARIO_ORDER, Lab
from remediate.lab.host import host_exec
from tests.conftest import TEST_ENGINE, TEST_LAB, _booted

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

# 20.10, 26.1, newest; `invoke test` runs this module once per engine (REMEDIATE_TEST_DOCKER)
ENGINES = (image.engine(TEST_ENGINE).name,) if TEST_ENGINE else tuple(image.ENGINES)


@pytest.fixture(scope="module", params=ENGINES)
def engine_lab(request):
    """All scenarios plus docker-ce on one engine. Under `invoke test` (one engine per pass) that is the
    session's shared lab, already booted on it; otherwise a lab of its own per engine, in turn."""
    if TEST_ENGINE:
        yield request.getfixturevalue("lab")
        return
    slug = request.param.replace(".", "")
    yield from _booted(f"{TEST_LAB}-engine-{slug}", SCENARIO_ORDER + OPTIONAL_SCENARIOS, extra=1, engine=request.param)


@pytest.fixture
def spare_host(request, engine_lab):
    """A plain host a test may change and put back: the faults lab's stock-03 (reset before and after by its
    `pristine` fixture) under `invoke test`, else the engine lab's stock-01."""
    if TEST_ENGINE:
        request.getfixturevalue("pristine")
        return request.getfixturevalue("faults_lab").lab.hosts()["stock-03"]
    return engine_lab.hosts["stock-01"]


def sh(host, command: str, timeout: float = 120) -> str:
    return host_exec(host, ["sh", "-c", command], timeout=timeout).stdout.decode().strip()


def test_every_scenario_holds_and_dockerd_is_the_engine_of_the_image(engine_lab):
    fleet = engine_lab.lab
    info = fleet.engine_info()
    eng = image.engine(info["engine"])
    assert info["dockerd"] and info["containerd"] and info["runc"], info
    if not eng.moving:
        assert info["dockerd"].startswith(eng.expected + "."), info
    for name in SCENARIO_ORDER + OPTIONAL_SCENARIOS:
        host = engine_lab.hosts[name]
        assert host.alive(), name
        assert scenarios.verify(scenarios.get(host.scenario), host) == [], name
    rows = {r.name: r for r in fleet.status()}
    # The daemon itself answers with the version the image recorded (broken-json's never starts).
    assert {n: r.version for n, r in rows.items() if n != "broken-json"} == {
        n: info["dockerd"] for n in rows if n != "broken-json"
    }
    assert rows["broken-json"].version == ""


def test_docker_ce_unit_reads_no_environment_file(engine_lab):
    host = engine_lab.hosts["docker-ce"]
    unit = sh(host, "systemctl cat docker.service")
    assert "EnvironmentFile" not in unit and "$DOCKER_OPTS" not in unit
    exec_start = sh(host, "systemctl show -p ExecStart --value docker.service")
    assert exec_start.count("argv[]=") == 1  # one command, no drop-in adding another
    assert "argv[]=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock ;" in exec_start
    # The distribution's units are replaced where they were installed, not overridden from /etc.
    assert (
        sh(host, "ls /etc/systemd/system/docker.service /etc/systemd/system/docker.socket 2>&1 || true").count(
            "No such file"
        )
        == 2
    )


def test_a_container_runs_under_userns_remap(spare_host):
    """A user namespace per container: refused to any process in a chroot, so this proves the pivot_root."""
    host = spare_host
    assert sh(host, "unshare --user id -u") == "65534"
    assert sh(host, "test -e /etc/docker/daemon.json && echo present || echo absent") == "absent"
    saved = "/etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/subuid /etc/subgid"
    sh(host, f"mkdir -p /root/userns-test && cp -p {saved} /root/userns-test/")
    try:
        sh(host, """echo '{"userns-remap": "default"}' > /etc/docker/daemon.json && systemctl restart docker""")
        assert "name=userns" in sh(host, "docker info --format '{{json .SecurityOptions}}'")
        # The remapped store is empty: the local image must be imported again, as the lab does at boot.
        sh(host, scenarios.BUSYBOX_IMPORT)
        assert sh(host, "docker run --rm busybox id -u") == "0"
        uid_map = sh(host, "docker run --rm busybox cat /proc/self/uid_map").split()
        assert uid_map[0] == "0" and uid_map[1] != "0", uid_map  # root inside is not root outside
    finally:
        sh(
            host,
            "rm -f /etc/docker/daemon.json && cp -p /root/userns-test/* /etc/ && rm -rf /root/userns-test "
            "&& systemctl restart docker",
        )
    assert "name=userns" not in sh(host, "docker info --format '{{json .SecurityOptions}}'")
    assert sh(host, "docker run --rm busybox id -u") == "0"


def test_a_running_lab_refuses_another_engine(engine_lab):
    other = next(e for e in image.ENGINES if e != engine_lab.lab.engine_info()["engine"])
    before = {n: h.init for n, h in engine_lab.lab.hosts().items()}
    again = Lab(
        engine_lab.lab.name, scenario_names=SCENARIO_ORDER + OPTIONAL_SCENARIOS, engine=other, log=lambda m: None
    )
    with pytest.raises(LabError, match=f"runs Docker engine {engine_lab.lab.engine_info()['engine']}.*will not mix"):
        again.up(extra=1)
    assert {n: h.init for n, h in engine_lab.lab.hosts().items()} == before
