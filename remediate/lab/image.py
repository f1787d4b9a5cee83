"""The lab's Debian base images, one per Docker engine: built once with debootstrap, cached by recipe.

Every lab host overlays its own writable layer on one read-only base image, so
the expensive part (40 s to 2 min, ~600 MB) happens once per machine, engine
and recipe. The engines are those Debian's archive carries (Docker's own
repository is not reachable from the lab's machines):

  20.10   Debian 12 bookworm, docker.io                       (dockerd 20.10.24)
  26.1    Debian 13 trixie, docker.io + docker-cli            (dockerd 26.1.5)
  newest  trixie + Debian unstable's docker.io, containerd, runc, pinned at
          priority 100 (dockerd 28.5.2 when written; `28.5` is an alias). It
          follows unstable: a rebuilt image may hold 29.x, which is shown, not
          refused. Debian unstable itself does not boot on a cgroup v1 machine.

The build records the versions it got in <image>/versions.json.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from remediate.errors import LabError
from remediate.templates import TEMPLATES_DIR

# The bookworm (20.10) recipe. Its key must stay what it is: every lab on this machine shares that image.
SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "docker.io",
    "iproute2",
    "sudo",
    "busybox-static",
)
# Tools the controller needs to build and run the lab.
CONTROLLER_TOOLS = {
    "debootstrap": "debootstrap",
    "socat": "socat",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "ssh-keygen": "openssh-client",
    "ss": "iproute2",
}
SETUP_SCRIPT = TEMPLATES_DIR / "lab" / "image-setup.sh"
SSHD_CONFIG = TEMPLATES_DIR / "lab" / "sshd_config.conf"
ENGINE_SCRIPTS = TEMPLATES_DIR / "lab" / "engines"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
VERSIONS_FILE = "versions.json"


@dataclass(frozen=True)
class Engine:
    """One Docker engine the lab can boot: how its base image is made."""

    name: str
    suite: str
    packages: tuple[str, ...]
    description: str
    # Scripts run in the image's chroot after debootstrap, before image-setup.sh (part of the recipe).
    steps: tuple[str, ...] = ()
    # The dockerd version this recipe gave when it was written; the image may hold another (see `moving`).
    expected: str = ""
    # Follows Debian unstable: a rebuild may bring a newer engine, which is shown rather than refused.
    moving: bool = False


# chattr and lsattr: bookworm's minbase has them, trixie's does not (the immutable-file fault tests need them).
TRIXIE_EXTRA = ("e2fsprogs",)
_BASE = tuple(p for p in PACKAGES if p != "docker.io") + TRIXIE_EXTRA
ENGINES = {
    "20.10": Engine("20.10", "bookworm", PACKAGES, "Debian 12 bookworm docker.io", expected="20.10"),
    "26.1": Engine(
        "26.1",
        "trixie",
        (*PACKAGES, "docker-cli", *TRIXIE_EXTRA),
        "Debian 13 trixie docker.io + docker-cli",
        expected="26.1",
    ),
    "newest": Engine(
        "newest",
        "trixie",
        _BASE,
        "Debian 13 trixie + docker.io, containerd, runc from unstable",
        steps=("sid-docker.sh",),
        expected="28.5",
        moving=True,
    ),
}
ALIASES = {
    "28.5": "newest",
    "28": "newest",
    "sid": "newest",
    "unstable": "newest",
    "20": "20.10",
    "bookworm": "20.10",
    "26": "26.1",
    "trixie": "26.1",
}
DEFAULT_ENGINE = "20.10"


def engine(name: str | None) -> Engine:
    """The engine for a --docker value (a version, an alias such as `newest`, or None for the default)."""
    key = str(name or DEFAULT_ENGINE).strip().lower()
    key = ALIASES.get(key, key)
    if key not in ENGINES:
        known = ", ".join(list(ENGINES) + [a for a in ALIASES if ALIASES[a] == "newest"][:1])
        raise LabError(f"unknown Docker engine {name!r} for the lab; known: {known}")
    return ENGINES[key]


def recipe_key(extra_packages: tuple[str, ...] = (), engine_name: str = DEFAULT_ENGINE) -> str:
    """Hash of everything that shapes the image: a change rebuilds it, nothing else does."""
    eng = engine(engine_name)
    digest = hashlib.sha256()
    if eng.name != "20.10":
        # Only other engines add their name and steps, so the bookworm key is the one it always was.
        digest.update(f"engine={eng.name}\n".encode())
        for step in eng.steps:
            digest.update((ENGINE_SCRIPTS / step).read_bytes())
    digest.update(eng.suite.encode())
    digest.update(" ".join(sorted(eng.packages + tuple(extra_packages))).encode())
    digest.update(SETUP_SCRIPT.read_bytes())
    digest.update(SSHD_CONFIG.read_bytes())
    return digest.hexdigest()[:16]


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses on this machine (deb822 or one-line format).

    The archive that serves the machine's own suite serves trixie and sid too.
    """
    deb822 = sources_dir / "sources.list.d" / "debian.sources"
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.MULTILINE)
            if uris and suites and any(_archive_suite(s) for s in suites.group(1).split()):
                return uris.group(1)
    one_line = sources_dir / "sources.list"
    if one_line.exists():
        for line in one_line.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "deb":
                words = [f for f in fields[1:] if not f.startswith("[") and not f.endswith("]")]
                if len(words) >= 2 and _archive_suite(words[1]):
                    return words[0]
    return DEFAULT_MIRROR


def _archive_suite(suite: str) -> bool:
    """A suite of the main archive (bookworm, stable…), not -security or -updates."""
    return "-" not in suite and "/" not in suite


def ensure_controller_tools() -> None:
    """Install what the lab needs on this machine with apt, once."""
    missing = sorted({pkg for tool, pkg in CONTROLLER_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"could not install {', '.join(missing)}: {result.stderr.strip()[-500:]}")


def image_dir(images_dir: Path, extra_packages: tuple[str, ...] = (), engine_name: str = DEFAULT_ENGINE) -> Path:
    return images_dir / recipe_key(tuple(extra_packages), engine_name)


@contextmanager
def build_lock(images_dir: Path, key: str, log=print):
    """Hold images/<key>.lock: two processes never build (or finish) the same image at once."""
    images_dir.mkdir(parents=True, exist_ok=True)
    with open(images_dir / f"{key}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process that is building lab image {key}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_image(
    images_dir: Path, extra_packages: tuple[str, ...] = (), log=print, engine_name: str = DEFAULT_ENGINE
) -> Path:
    """Return the rootfs of the engine's base image, building it if this recipe has none yet."""
    eng = engine(engine_name)
    key = recipe_key(tuple(extra_packages), eng.name)
    target_dir = images_dir / key
    if (target_dir / "complete").exists():
        return target_dir / "rootfs"
    with build_lock(images_dir, key, log):
        if (target_dir / "complete").exists():  # built by whoever held the lock before us
            return target_dir / "rootfs"
        _build(eng, key, images_dir, tuple(extra_packages), log)
    return target_dir / "rootfs"


def _build(eng: Engine, key: str, images_dir: Path, extra_packages: tuple[str, ...], log) -> None:
    ensure_controller_tools()
    started = time.monotonic()
    building = images_dir / f"{key}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    mirror = apt_mirror()
    log(
        f"building lab base image {key} (Docker engine {eng.name}: {eng.description}) with debootstrap "
        f"from {mirror} (one to three minutes, once)"
    )
    include = ",".join(eng.packages + extra_packages)
    target = building / "rootfs"
    _run(
        ["debootstrap", "--variant=minbase", f"--include={include}", eng.suite, str(target), mirror],
        building / "debootstrap.log",
    )
    sshd_dir = target / "etc/ssh/sshd_config.d"
    sshd_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SSHD_CONFIG, sshd_dir / "remediate-lab.conf")
    for step in eng.steps:
        shutil.copyfile(ENGINE_SCRIPTS / step, target / "tmp" / step)
        _run(_in_chroot(target, ["/bin/sh", f"/tmp/{step}", mirror]), building / f"{step}.log")
        (target / "tmp" / step).unlink()
    shutil.copyfile(SETUP_SCRIPT, target / "tmp/image-setup.sh")
    _run(["chroot", str(target), "/bin/sh", "/tmp/image-setup.sh"], building / "setup.log")
    (target / "tmp/image-setup.sh").unlink()
    versions = _read_versions(target)
    versions.update(engine=eng.name, suite=eng.suite, key=key, build_seconds=round(time.monotonic() - started, 1))
    (building / VERSIONS_FILE).write_text(json.dumps(versions, indent=2) + "\n")
    final = images_dir / key
    shutil.rmtree(final, ignore_errors=True)
    building.rename(final)
    (final / "complete").write_text(key + "\n")
    log(f"lab image {key} built in {versions['build_seconds']:.0f}s: {describe(versions)}")
    note = version_note(eng, versions)
    if note:
        log(note)


def _in_chroot(root: Path, argv: list[str]) -> list[str]:
    """argv in a chroot with /proc (apt and maintainer scripts want it), in a mount namespace of its own
    so nothing stays mounted on the image, whatever happens."""
    script = (
        'mount -t proc proc "$1/proc" && cp /etc/resolv.conf "$1/etc/resolv.conf" && root=$1 && shift && '
        'exec chroot "$root" "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script, "sh", str(root), *argv]


VERSION_PROBE = r"""
v() { "$@" 2>/dev/null | head -n 1; }
echo "dockerd=$(v dockerd --version)"
echo "containerd=$(v containerd --version)"
echo "runc=$(v runc --version)"
dpkg-query -W -f='pkg:${Package}=${Version}\n' docker.io docker-cli containerd runc 2>/dev/null || true
"""


def _read_versions(rootfs: Path) -> dict:
    """What the image's engine really is, read from its binaries and dpkg (no daemon needed)."""
    result = subprocess.run(
        ["chroot", str(rootfs), "/bin/sh", "-c", VERSION_PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    raw: dict[str, str] = {}
    packages: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.startswith("pkg:"):
            packages[name[4:]] = value
        elif name:
            raw[name] = value.strip()
    return {
        "dockerd": _version_word(raw.get("dockerd", ""), r"Docker version (\S+?),?(?:\s|$)"),
        "containerd": _version_word(raw.get("containerd", ""), r"^containerd \S+ v?(\S+)"),
        "runc": _version_word(raw.get("runc", ""), r"runc version (\S+)"),
        "packages": packages,
        "raw": raw,
    }


def _version_word(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return match.group(1).rstrip(",") if match else (text or "unknown")


def versions(rootfs: Path) -> dict:
    """The image's recorded versions (images built before they were recorded are probed once, then saved)."""
    path = rootfs.parent / VERSIONS_FILE
    if path.exists():
        return json.loads(path.read_text())
    found = _read_versions(rootfs)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(found, indent=2) + "\n")
    tmp.replace(path)
    return found


def describe(found: dict) -> str:
    return f"dockerd {found.get('dockerd')}, containerd {found.get('containerd')}, runc {found.get('runc')}"


def version_note(eng: Engine, found: dict) -> str:
    """A note when the image's dockerd is not the release the engine is named after (unstable moved on)."""
    got = str(found.get("dockerd", ""))
    if not eng.expected or got.startswith(eng.expected + "."):
        return ""
    if eng.moving:
        return (
            f"note: engine {eng.name} follows Debian unstable, which now gives dockerd {got} "
            f"(it gave {eng.expected} when the lab was written); the lab uses what it got"
        )
    return f"note: engine {eng.name} gave dockerd {got}, not {eng.expected}.x as expected; the lab uses what it got"


def _run(argv: list[str], log_path: Path) -> None:
    with open(log_path, "wb") as log:
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise LabError(f"{argv[0]} failed (exit {result.returncode}), see {log_path}:\n" + "\n".join(tail))
