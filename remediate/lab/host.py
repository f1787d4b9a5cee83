"""One lab host: a systemd machine in its own namespaces, reached over a loopback forward.

Layout of a host directory:
  upper/ work/   overlay layers on top of the shared read-only base image
  root/          the overlay mount point (mounted only inside the host's mount namespace)
  docker/ containerd/  plain directories for /var/lib/docker and /var/lib/containerd
                 (overlayfs under dockerd fails with "invalid cross-device link")
  boot.log  forward.log  jump-forward.log
  turns.jsonl  jump-turns.jsonl   the delaying relay's per-connection round trips (only with latency)
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from remediate.errors import LabError
from remediate.lab.proc import ProcessRef, children, spawn_daemon
from remediate.templates import TEMPLATES_DIR

BOOT_SCRIPT = TEMPLATES_DIR / "lab" / "boot.sh"
CGROUP_ROOT = Path("/sys/fs/cgroup")
BOOT_TIMEOUT = 90.0
RELAY_SCRIPT = Path(__file__).with_name("relay.py")


@dataclass(frozen=True)
class Latency:
    """The round trip a lab host's forwarders add (lab.up --rtt-ms/--jitter-ms); zero keeps the plain socat."""

    rtt_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self):
        if self.rtt_ms < 0 or self.jitter_ms < 0:
            raise LabError("--rtt-ms and --jitter-ms must not be negative")

    @property
    def active(self) -> bool:
        return self.rtt_ms > 0 or self.jitter_ms > 0


NO_LATENCY = Latency()


@dataclass
class LabHost:
    """What the lab knows about a running host; saved in the lab's state.json."""

    name: str
    scenario: str
    port: int = 0
    jump_port: int = 0
    init: ProcessRef | None = None
    unshare: ProcessRef | None = None
    forwarder: ProcessRef | None = None
    jump_forwarder: ProcessRef | None = None
    host_key: str = ""
    container_ids: list[str] = field(default_factory=list)
    rtt_ms: float = 0.0  # the latency its forwarders run with
    jitter_ms: float = 0.0

    @property
    def pid(self) -> int:
        """The host's PID 1 as seen from this machine (its systemd)."""
        return self.init.pid if self.init else 0

    def alive(self) -> bool:
        return bool(self.init and self.init.alive())

    @property
    def latency(self) -> Latency:
        return Latency(self.rtt_ms, self.jitter_ms)

    def to_json(self) -> dict:
        data = dict(self.__dict__)
        for key in ("init", "unshare", "forwarder", "jump_forwarder"):
            data[key] = getattr(self, key).to_json() if getattr(self, key) else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> LabHost:
        data = dict(data)
        for key in ("init", "unshare", "forwarder", "jump_forwarder"):
            data[key] = ProcessRef(**data[key]) if data.get(key) else None
        return cls(**data)


def nsenter_argv(pid: int, argv: list[str]) -> list[str]:
    """Run argv inside the host as its root user sees it (all its namespaces and its root)."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *argv]


def host_exec(
    host: LabHost, argv: list[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess:
    """Run a command inside a lab host without SSH (the lab's own back door for seeding)."""
    try:
        result = subprocess.run(
            nsenter_argv(host.pid, argv), input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{host.name}: {' '.join(argv)} timed out after {timeout:.0f}s") from exc
    if check and result.returncode != 0:
        raise LabError(
            f"{host.name}: {' '.join(argv)} failed (exit {result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result


def cgroup_path(lab_name: str, host_name: str) -> str:
    return f"remediate-lab/{lab_name}/{host_name}"


def prepare(name: str, host_dir: Path, base_rootfs: Path, authorized_key: str) -> str:
    """Create a host's directories and its own ssh host key; return the public host key."""
    if host_dir.exists():
        remove_dir(host_dir)
    for sub in ("upper", "work", "root", "docker", "containerd"):
        (host_dir / sub).mkdir(parents=True)
    layer = Layer(host_dir / "upper", base_rootfs)
    key = layer.mkdirs("/etc/ssh") / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(key)], check=True)
    layer.write("/etc/hostname", f"{name}\n".encode(), mode=0o644)
    hosts_file = f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    layer.write("/etc/hosts", hosts_file.encode(), mode=0o644)
    ops_uid, ops_gid = layer.user_ids("ops")
    layer.write("/root/.ssh/authorized_keys", authorized_key.encode(), mode=0o600, dir_mode=0o700)
    layer.write(
        "/home/ops/.ssh/authorized_keys", authorized_key.encode(), mode=0o600, dir_mode=0o700, uid=ops_uid, gid=ops_gid
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[0:2])


class Layer:
    """A host's writable overlay layer, written before boot.

    Parent directories are created with the base image's mode and owner, so
    adding /root/.ssh does not silently turn /root from 0700 into 0755.
    """

    def __init__(self, upper: Path, base: Path):
        self.upper = upper
        self.base = base

    def resolve(self, path: str) -> str:
        """The path with its directories' symlinks followed as the host will see them.

        Writing /lib/systemd/system/x into the layer of a merged-/usr image must land in
        usr/lib/systemd/system/x: a real lib/ directory in the layer would hide the base's
        /lib -> usr/lib link, and with it every library. The last component is not followed.
        """
        parts = [p for p in path.split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                done = done[:-1]
                continue
            rel = "/".join([*done, part])
            upper, lower = self.upper / rel, self.base / rel
            link = None
            if parts and upper.is_symlink():
                link = os.readlink(upper)
            elif parts and not os.path.lexists(upper) and lower.is_symlink():
                link = os.readlink(lower)
            if link is None:
                done.append(part)
                continue
            hops += 1
            if hops > 40:
                raise LabError(f"too many symbolic links resolving {path} in the base image")
            if link.startswith("/"):
                done = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
        return "/" + "/".join(done)

    def mkdirs(self, path: str, *, mode: int | None = None, uid: int = 0, gid: int = 0) -> Path:
        rel_path = Path(self.resolve(path).lstrip("/"))
        target = self.upper / rel_path
        chain = [p for p in reversed(rel_path.parents) if str(p) != "."] + [rel_path]
        for rel in chain:
            dest = self.upper / rel
            if dest.is_dir():
                continue
            dest.mkdir()
            lower = self.base / rel
            if lower.is_dir():
                st = lower.stat()
                os.chown(dest, st.st_uid, st.st_gid)
                os.chmod(dest, st.st_mode & 0o7777)
            else:
                os.chown(dest, uid, gid)
                os.chmod(dest, 0o755)
        if mode is not None:
            os.chmod(target, mode)
        return target

    def write(
        self, path: str, content: bytes, *, mode: int, uid: int = 0, gid: int = 0, dir_mode: int | None = None
    ) -> None:
        path = self.resolve(path)
        parent = self.mkdirs(str(Path(path).parent), mode=dir_mode, uid=uid, gid=gid)
        if dir_mode is not None:
            os.chown(parent, uid, gid)
        dest = self.upper / path.lstrip("/")
        if dest.is_symlink() or dest.is_char_device():  # a link or a whiteout: replace, never write through
            dest.unlink()
        dest.write_bytes(content)
        os.chown(dest, uid, gid)
        os.chmod(dest, mode)

    def exists(self, path: str) -> bool:
        """Whether the host will see a file at path (the layer's own files and whiteouts first)."""
        rel = self.resolve(path).lstrip("/")
        upper = self.upper / rel
        if os.path.lexists(upper):
            return not upper.is_char_device()
        return os.path.lexists(self.base / rel)

    def move(self, source: str, dest: str) -> None:
        """Move a file of the image within the host (e.g. a binary to where another package puts it).

        The copy keeps the file's mode and owner; the old path gets an overlay whiteout, so the
        host sees the file only at its new place, as if it had been installed there.
        """
        src_rel = self.resolve(source).lstrip("/")
        upper_src, lower_src = self.upper / src_rel, self.base / src_rel
        origin = upper_src if os.path.lexists(upper_src) else lower_src
        if not os.path.lexists(origin) or (origin == upper_src and upper_src.is_char_device()):
            raise LabError(f"cannot move {source}: the host has no such file")
        dest = self.resolve(dest)
        self.mkdirs(str(Path(dest).parent))
        target = self.upper / dest.lstrip("/")
        if os.path.lexists(target):
            target.unlink()
        shutil.copy2(origin, target, follow_symlinks=False)
        st = origin.lstat()
        os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
        if os.path.lexists(upper_src):
            upper_src.unlink()
        if os.path.lexists(lower_src):
            self.mkdirs(str(Path("/" + src_rel).parent))
            os.mknod(upper_src, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def user_ids(self, user: str) -> tuple[int, int]:
        for line in (self.base / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        raise LabError(f"user {user} missing from the base image")


def boot(host: LabHost, host_dir: Path, base_rootfs: Path, lab_name: str) -> None:
    """Start the host's namespaces and systemd; return once PID 1 is systemd."""
    argv = [
        "unshare",
        "--pid",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--fork",
        "--kill-child",
        "/bin/sh",
        str(BOOT_SCRIPT),
        str(host_dir),
        str(base_rootfs),
        host.name,
        cgroup_path(lab_name, host.name),
    ]
    host.unshare = spawn_daemon(argv, host_dir / "boot.log")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kids = children(host.unshare.pid)
        if kids and _comm(kids[0]) == "systemd":
            host.init = ProcessRef.of(kids[0])
            return
        if not host.unshare.alive():
            break
        time.sleep(0.05)
    log = (host_dir / "boot.log").read_text(errors="replace").strip()
    raise LabError(f"{host.name}: systemd did not start as PID 1: {log[-500:] or 'no output'}")


def wait_booted(host: LabHost, timeout: float = BOOT_TIMEOUT) -> str:
    """Wait for systemd to finish booting; 'running' or 'degraded' are both booted.

    Right after exec, systemd has not opened its control socket yet and
    systemctl answers nothing: retry until it does.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = max(1.0, deadline - time.monotonic())
        result = host_exec(host, ["systemctl", "is-system-running", "--wait"], timeout=remaining, check=False)
        state = result.stdout.decode().strip()
        if state in ("running", "degraded"):
            return state
        if time.monotonic() > deadline or not host.alive():
            detail = result.stderr.decode(errors="replace").strip()
            raise LabError(f"{host.name}: boot ended in state {state!r} {detail}{_boot_diagnosis(host)}")
        time.sleep(0.1)


def _boot_diagnosis(host: LabHost) -> str:
    """What systemd is still waiting for, so a stuck boot explains itself."""
    if not host.alive():
        return " (the host's PID 1 died)"
    jobs = host_exec(host, ["systemctl", "list-jobs", "--no-pager", "--no-legend"], timeout=10, check=False)
    failed = host_exec(host, ["systemctl", "--failed", "--no-pager", "--no-legend"], timeout=10, check=False)
    return (
        f"; pending jobs: {jobs.stdout.decode(errors='replace').strip() or 'none'}"
        f"; failed units: {failed.stdout.decode(errors='replace').strip() or 'none'}"
    )


def start_forwarder(
    target_pid: int,
    log_path: Path,
    *,
    listen_port: int,
    in_netns_of: int | None = None,
    latency: Latency = NO_LATENCY,
    turns_path: Path | None = None,
) -> ProcessRef:
    """Forward 127.0.0.1:listen_port to the host's sshd inside its network namespace.

    With in_netns_of, the listener itself lives inside another host's network
    namespace (the bastion), so that port is reachable only through that host.
    With latency, the forwarder is the delaying relay (relay.py), which also logs
    each connection's round trips to turns_path; without, a plain socat.
    """
    if latency.active:
        argv = [sys.executable, "-I", "-S", str(RELAY_SCRIPT), "--listen-port", str(listen_port)]
        argv += ["--netns", f"/proc/{target_pid}/ns/net", "--rtt-ms", str(latency.rtt_ms)]
        argv += ["--jitter-ms", str(latency.jitter_ms)]
        if turns_path is not None:
            argv += ["--turns", str(turns_path)]
    else:
        # nodelay on both TCP legs: a relay with Nagle's algorithm holds an SSH packet that follows another
        # (channel close, then the next channel's open) until the first is ACKed, 40 ms of delayed ACK a
        # round trip, a stall no real network path between a controller and sshd adds.
        connect = f'EXEC:"nsenter --net=/proc/{target_pid}/ns/net socat STDIO TCP\\:127.0.0.1\\:22\\,nodelay"'
        argv = ["socat", f"TCP-LISTEN:{listen_port},bind=127.0.0.1,fork,reuseaddr,nodelay", connect]
    if in_netns_of is not None:
        argv = ["nsenter", f"--net=/proc/{in_netns_of}/ns/net", *argv]
    ref = spawn_daemon(argv, log_path)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _listening(listen_port, in_netns_of):
            return ref
        if not ref.alive():
            break
        time.sleep(0.02)
    raise LabError(f"forwarder on port {listen_port} did not start: {log_path.read_text(errors='replace')[-300:]}")


def _listening(port: int, in_netns_of: int | None) -> bool:
    argv = ["ss", "-Hltn", f"sport = :{port}"]
    if in_netns_of is not None:
        argv = ["nsenter", f"--net=/proc/{in_netns_of}/ns/net", *argv]
    return bool(subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(host: LabHost, lab_name: str) -> None:
    """Stop a host's processes (only ours, by recorded PID) and free its cgroups."""
    for ref in (host.forwarder, host.jump_forwarder):
        if ref:
            ref.kill()
    if host.init:
        # Killing PID 1 of a PID namespace ends every process in it.
        host.init.kill()
        host.init.wait_gone()
    if host.unshare:
        host.unshare.kill()
        host.unshare.wait_gone()
    remove_cgroups(cgroup_path(lab_name, host.name), host.container_ids)


def remove_cgroups(path: str, container_ids: list[str]) -> None:
    """rmdir the host's cgroup subtree and its containers' cgroups (empty ones only)."""
    for hier in CGROUP_ROOT.iterdir():
        candidates = [hier / path] + [hier / "docker" / cid for cid in container_ids]
        for top in candidates:
            if not top.is_dir():
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                _rmdir_retry(Path(dirpath))
        for parent in (hier / path).parents:
            if parent == hier:
                break
            _rmdir_retry(parent, attempts=1)


def _rmdir_retry(path: Path, attempts: int = 20) -> None:
    for _ in range(attempts):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def remove_dir(host_dir: Path) -> None:
    """Delete a stopped host's files, refusing if anything is still mounted below it."""
    prefix = str(host_dir.resolve()) + "/"
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    if any(line.split()[4].startswith(prefix) for line in mounts):
        raise LabError(f"{host_dir} still has mounts below it; not deleting")
    shutil.rmtree(host_dir, ignore_errors=True)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""
