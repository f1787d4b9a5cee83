"""The lab's engines: how --docker picks a base image, what is cached apart, one build at a time,
and a lab that never mixes engines. No root or network needed (the whiteout test skips without root)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import pytest

from remediate.errors import LabError
from remediate.lab import image
from remediate.lab.fleet import Lab
from remediate.lab.host import LabHost, Layer
from remediate.lab.proc import ProcessRef


def test_the_bookworm_key_is_the_one_it_always_was():
    """Others' labs share the bookworm image: engines must not change its recipe key."""
    digest = hashlib.sha256()
    digest.update(image.SUITE.encode())
    digest.update(" ".join(sorted(image.PACKAGES)).encode())
    digest.update(image.SETUP_SCRIPT.read_bytes())
    digest.update(image.SSHD_CONFIG.read_bytes())
    assert image.recipe_key() == image.recipe_key((), "20.10") == digest.hexdigest()[:16]


def test_each_engine_has_its_own_image_and_extra_packages_stay_apart():
    keys = {name: image.recipe_key((), name) for name in image.ENGINES}
    assert len(set(keys.values())) == len(keys)
    assert image.recipe_key(("python3",), "26.1") not in keys.values()
    assert image.recipe_key((), "28.5") == keys["newest"]


@pytest.mark.parametrize(
    "given, name",
    [
        (None, image.DEFAULT_ENGINE),
        ("20.10", "20.10"),
        ("26.1", "26.1"),
        ("28.5", "newest"),
        ("newest", "newest"),
        (" Newest ", "newest"),
        ("sid", "newest"),
        ("trixie", "26.1"),
    ],
)
def test_docker_values_name_an_engine(given, name):
    assert image.engine(given).name == name


def test_an_unknown_engine_is_refused_with_the_known_ones():
    with pytest.raises(LabError, match=r"unknown Docker engine '27.0'.*20.10, 26.1, newest"):
        image.engine("27.0")


def test_newest_follows_unstable_and_says_so_without_failing():
    newest = image.engine("newest")
    assert newest.moving and newest.suite == "trixie" and "docker.io" not in newest.packages
    assert image.version_note(newest, {"dockerd": "28.5.2+dfsg4"}) == ""
    note = image.version_note(newest, {"dockerd": "29.0.1+dfsg1"})
    assert "29.0.1" in note and "follows Debian unstable" in note
    assert "not 26.1.x" in image.version_note(image.engine("26.1"), {"dockerd": "26.2.0"})


def test_versions_are_read_from_the_binaries_output():
    assert (
        image._version_word("Docker version 28.5.2+dfsg4, build 3ef3c07", r"Docker version (\S+?),?(?:\s|$)")
        == "28.5.2+dfsg4"
    )
    assert (
        image._version_word("containerd github.com/containerd/containerd/v2 2.1.9+unknown", r"^containerd \S+ v?(\S+)")
        == "2.1.9+unknown"
    )
    assert image._version_word("runc version 1.3.6+ds1", r"runc version (\S+)") == "1.3.6+ds1"
    assert image._version_word("", r"runc version (\S+)") == "unknown"


def test_the_mirror_is_the_main_archive_apt_uses(tmp_path):
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert image.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (sources / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://one.example/debian trixie main\n")
    assert image.apt_mirror(tmp_path) == "http://one.example/debian"


def test_two_processes_never_build_the_same_image_at_once(tmp_path, monkeypatch):
    builds = []

    def fake_build(eng, key, images_dir, extra, log):
        builds.append(key)
        time.sleep(0.3)
        (images_dir / key / "rootfs").mkdir(parents=True)
        (images_dir / key / "complete").write_text(key)

    monkeypatch.setattr(image, "_build", fake_build)
    messages = []
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(image.ensure_image(tmp_path, (), log=messages.append, engine_name="26.1"))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(set(results)) == 1
    assert any("waiting for another process" in m for m in messages)


def _merged_usr_base(tmp_path):
    base = tmp_path / "base"
    (base / "usr/lib/systemd/system").mkdir(parents=True)
    (base / "usr/sbin").mkdir(parents=True)
    (base / "usr/bin").mkdir(parents=True)
    os.symlink("usr/lib", base / "lib")
    (base / "usr/sbin/dockerd").write_bytes(b"ELF")
    os.chmod(base / "usr/sbin/dockerd", 0o755)
    upper = tmp_path / "upper"
    upper.mkdir()
    return base, upper


def test_layer_writes_through_the_images_merged_usr_links(tmp_path):
    base, upper = _merged_usr_base(tmp_path)
    layer = Layer(upper, base)
    assert layer.resolve("/lib/systemd/system/docker.service") == "/usr/lib/systemd/system/docker.service"
    layer.write("/lib/systemd/system/docker.service", b"[Unit]\n", mode=0o644)
    assert (upper / "usr/lib/systemd/system/docker.service").read_bytes() == b"[Unit]\n"
    assert not os.path.lexists(upper / "lib")  # a real lib/ here would hide the image's /lib -> usr/lib


@pytest.mark.skipif(os.geteuid() != 0, reason="an overlay whiteout is a device node: root only")
def test_layer_moves_a_binary_and_whites_out_the_old_path(tmp_path):
    base, upper = _merged_usr_base(tmp_path)
    layer = Layer(upper, base)
    layer.move("/usr/sbin/dockerd", "/usr/bin/dockerd")
    assert (upper / "usr/bin/dockerd").read_bytes() == b"ELF"
    assert (upper / "usr/bin/dockerd").stat().st_mode & 0o777 == 0o755
    whiteout = (upper / "usr/sbin/dockerd").lstat()
    assert os.major(whiteout.st_rdev) == 0 and os.minor(whiteout.st_rdev) == 0
    assert not layer.exists("/usr/sbin/dockerd") and layer.exists("/usr/bin/dockerd")
    with pytest.raises(LabError, match="no such file"):
        layer.move("/usr/sbin/dockerd", "/usr/local/bin/dockerd")


def _lab_with_state(tmp_path, state: dict, engine=None) -> Lab:
    lab = Lab("h", home=tmp_path, engine=engine)
    lab.dir.mkdir(parents=True)
    lab.state_file.write_text(json.dumps(state))
    return lab


def test_a_lab_keeps_its_engine_and_refuses_to_mix_in_another(tmp_path):
    me = LabHost(name="stock", scenario="stock", init=ProcessRef.of(os.getpid())).to_json()
    state = {"hosts": {"stock": me}, "engine": "26.1", "versions": {"dockerd": "26.1.5+dfsg1"}}
    assert _lab_with_state(tmp_path, state).engine == "26.1"
    lab = _lab_with_state(tmp_path / "b", state, engine="newest")
    with pytest.raises(LabError, match=r"runs Docker engine 26\.1 \(dockerd 26\.1\.5\+dfsg1\).*will not mix"):
        lab._choose_engine(lab.load_state(), lab.hosts())
    assert _lab_with_state(tmp_path / "c", state, engine="26.1")._choose_engine(state, {}) == "26.1"


def test_a_stopped_lab_may_change_engine_and_old_labs_ran_the_default(tmp_path):
    dead = LabHost(name="stock", scenario="stock", init=ProcessRef(pid=os.getpid(), start_time=1)).to_json()
    lab = _lab_with_state(tmp_path, {"hosts": {"stock": dead}, "engine": "20.10"}, engine="newest")
    assert lab._choose_engine(lab.load_state(), lab.hosts()) == "newest"
    legacy = _lab_with_state(tmp_path / "old", {"hosts": {"stock": dead}})
    assert legacy.recorded_engine() == "20.10" and legacy.engine == "20.10"
    assert Lab("fresh", home=tmp_path).engine == image.DEFAULT_ENGINE
