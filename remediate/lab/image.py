"""The lab's Debian base image: built once with debootstrap, cached by its recipe.

Every lab host overlays its own writable layer on this read-only root, so the
expensive part (~45 s, ~600 MB) happens once per machine and recipe.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from remediate.errors import LabError
from remediate.templates import TEMPLATES_DIR

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
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def recipe_key(extra_packages: tuple[str, ...] = ()) -> str:
    """Hash of everything that shapes the image: a change rebuilds it, nothing else does."""
    digest = hashlib.sha256()
    digest.update(SUITE.encode())
    digest.update(" ".join(sorted(PACKAGES + extra_packages)).encode())
    digest.update(SETUP_SCRIPT.read_bytes())
    digest.update(SSHD_CONFIG.read_bytes())
    return digest.hexdigest()[:16]


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses on this machine (deb822 or one-line format)."""
    deb822 = sources_dir / "sources.list.d" / "debian.sources"
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    one_line = sources_dir / "sources.list"
    if one_line.exists():
        for line in one_line.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "deb" and SUITE in fields[2:]:
                return next(f for f in fields[1:] if not f.startswith("["))
    return DEFAULT_MIRROR


def ensure_controller_tools() -> None:
    """Install what the lab needs on this machine with apt, once."""
    missing = sorted({pkg for tool, pkg in CONTROLLER_TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"could not install {', '.join(missing)}: {result.stderr.strip()[-500:]}")


def ensure_image(images_dir: Path, extra_packages: tuple[str, ...] = (), log=print) -> Path:
    """Return the rootfs of the base image, building it if this recipe has none yet."""
    key = recipe_key(extra_packages)
    image_dir = images_dir / key
    rootfs = image_dir / "rootfs"
    if (image_dir / "complete").exists():
        return rootfs
    ensure_controller_tools()
    building = images_dir / f"{key}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    mirror = apt_mirror()
    log(f"building lab base image {key} with debootstrap from {mirror} (about a minute)")
    include = ",".join(PACKAGES + extra_packages)
    _run(
        ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(building / "rootfs"), mirror],
        building / "debootstrap.log",
    )
    target = building / "rootfs"
    sshd_dir = target / "etc/ssh/sshd_config.d"
    sshd_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SSHD_CONFIG, sshd_dir / "remediate-lab.conf")
    shutil.copyfile(SETUP_SCRIPT, target / "tmp/image-setup.sh")
    _run(["chroot", str(target), "/bin/sh", "/tmp/image-setup.sh"], building / "setup.log")
    (target / "tmp/image-setup.sh").unlink()
    shutil.rmtree(image_dir, ignore_errors=True)
    building.rename(image_dir)
    (image_dir / "complete").write_text(key + "\n")
    return rootfs


def _run(argv: list[str], log_path: Path) -> None:
    with open(log_path, "wb") as log:
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise LabError(f"{argv[0]} failed (exit {result.returncode}), see {log_path}:\n" + "\n".join(tail))
