"""Commit and restore of the host script on their own, run here as root on entries protocol.py built.

Each test gets a private mount namespace (`unshare --mount`, propagation private) in which /etc and /var/lib
are overlays whose writable layer is a tmpfs: /etc/docker, /etc/systemd/system and the backups under
/var/lib/remediate are written there and vanish with the namespace, never on this machine's own files.
/usr/local/sbin, first in the script's own PATH, is a tmpfs too, holding stub systemctl, docker and journalctl
that record their calls (and fail one call when a test asks). The test reads and plants files through
/proc/PID/root, which shows the namespace's mounts. The lab tests prove the same steps against real dockerd.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from remediate.apply.protocol import Entry, Reply, Transaction, entries_for, entry_words
from remediate.connection.base import CommandResult, OutputBudget
from remediate.connection.local import LocalConnection
from remediate.plan.model import FileChange

RUN = "20261202T050000Z-c0ffee"
WAIT = "5"  # seconds the script waits for the stub dockerd
ACTIONS = "daemon-reload,restart-docker:docker.service"
SETUP = r"""
set -eu
umask 022
mount -t tmpfs -o mode=0755 remediate-test /mnt
mkdir /mnt/etc /mnt/etc-work /mnt/lib /mnt/lib-work /mnt/stubs /mnt/calls
mount -t overlay overlay -o lowerdir=/etc,upperdir=/mnt/etc,workdir=/mnt/etc-work /etc
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=/mnt/lib,workdir=/mnt/lib-work /var/lib
mount --bind /mnt/stubs /usr/local/sbin
mountpoint -q /etc && mountpoint -q /var/lib && mountpoint -q /usr/local/sbin
echo ready
exec sleep 3600
"""
# One stub for every command the script runs on systemd and dockerd: it records its call, says docker.service
# is active, and fails (or hangs) once in the call that /mnt/calls/fail (or /mnt/calls/hang) starts with.
STUB = r"""#!/bin/sh
call="${0##*/} $*"
printf '%s\n' "$call" >>/mnt/calls/log
for how in fail hang; do
    what=$(cat /mnt/calls/$how 2>/dev/null)
    [ -n "$what" ] || continue
    case $call in "$what"*) rm -f /mnt/calls/$how; [ $how = fail ] || sleep 60; exit 1 ;; esac
done
[ "$call" != "systemctl is-active docker.service" ] || echo active
exit 0
"""
OLD_JSON = bytes(range(256)) + b'{"debug": true}'  # every byte value, no final newline
NEW_JSON = b'{"icc": false, "live-restore": true}\n'
ODD = "/etc/docker/odd name=\\x $(id) *.conf"  # spaces, "=", a backslash (sha256sum escapes it), no glob
DROP_IN = "/etc/systemd/system/docker.service.d/remediate.conf"
PATHS = ("/etc/docker/daemon.json", "/etc/docker/ca.pem", "/etc/docker/old.conf", ODD, DROP_IN)


class NamespaceConnection(LocalConnection):
    """The local connection, with every command run inside the test's mount namespace."""

    def __init__(self, pid: int):
        super().__init__()
        self.pid = pid

    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float, budget: OutputBudget) -> CommandResult:
        return super()._exec(["nsenter", f"--target={self.pid}", "--mount", "--", *argv], stdin, timeout, budget)


@dataclass
class Host:
    pid: int
    tx: Transaction

    def path(self, path: str) -> Path:
        """PATH as the namespace sees it."""
        return Path(f"/proc/{self.pid}/root{path}")

    def calls(self) -> list[str]:
        log = self.path("/mnt/calls/log")
        return log.read_text().splitlines() if log.exists() else []

    def fail(self, call: str, how: str = "fail") -> None:
        self.path(f"/mnt/calls/{how}").write_text(call)

    def state(self, path: str) -> tuple | None:
        """What a restore must bring back: the bytes (or link target), type, mode, owner and group."""
        p = self.path(path)
        if not p.exists() and not p.is_symlink():
            return None
        st = p.lstat()
        body = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None
        return body, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    def snapshot(self) -> dict:
        return {p: self.state(p) for p in (*PATHS, os.path.dirname(DROP_IN), "/etc/remediate-test-secret")}

    def leftovers(self) -> list[str]:
        return [p.name for d in ("/etc/docker", "/etc/systemd/system") for p in self.path(d).glob(".*.remediate-*")]


@pytest.fixture
def host():
    if os.geteuid() != 0:
        pytest.skip("needs root: a mount namespace, and the script sets root ownership")
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("needs unshare and nsenter (util-linux) for a private mount namespace")
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = proc.stdout.readline() if proc.stdout else ""
        if ready != "ready\n":
            proc.wait(timeout=10)
            pytest.skip(f"no private mount namespace with overlays here: {proc.stderr.read().strip()}")
        assert os.readlink(f"/proc/{proc.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        ns = Host(proc.pid, Transaction(NamespaceConnection(proc.pid), RUN, become=False))
        for name in ("systemctl", "docker", "journalctl"):
            stub = ns.path(f"/usr/local/sbin/{name}")
            stub.write_text(STUB)
            stub.chmod(0o755)
        yield ns
    finally:
        proc.kill()
        proc.wait()


def group_other_than_root() -> str:
    return next(g for g in ("adm", "daemon", "bin") if _has_group(g))


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def seed(host: Host) -> list[Entry]:
    """Files as a plan found them, and the plan's entries: daemon.json rewritten (owner and its odd mode kept),
    ca.pem chmod 0444, old.conf deleted, a new file with an odd name, a drop-in in a directory not there yet."""
    group = group_other_than_root()
    etc = host.path("/etc/docker")
    etc.mkdir(mode=0o755)
    (etc / "daemon.json").write_bytes(OLD_JSON)
    os.chown(etc / "daemon.json", 0, grp.getgrnam(group).gr_gid)
    os.chmod(etc / "daemon.json", 0o640)
    (etc / "ca.pem").write_bytes(b"certificate\n")
    os.chmod(etc / "ca.pem", 0o644)
    (etc / "old.conf").write_bytes(b"DOCKER_OPTS=-H tcp://0.0.0.0:2375\n")
    os.chmod(etc / "old.conf", 0o600)
    secret = host.path("/etc/remediate-test-secret")
    secret.write_bytes(b"root only\n")
    os.chmod(secret, 0o600)

    def inode(path: str) -> str:
        st = host.path(path).stat()
        return f"{st.st_dev}:{st.st_ino}"

    found = {"old_mode": 0o644, "old_owner": "root", "old_group": "root"}
    changes = [
        FileChange(
            "/etc/docker/daemon.json",
            OLD_JSON,
            NEW_JSON,
            "root",
            group,
            0o640,
            old_mode=0o640,
            old_owner="root",
            old_group=group,
            old_inode=inode("/etc/docker/daemon.json"),
        ),
        FileChange(
            "/etc/docker/ca.pem",
            None,
            None,
            "root",
            "root",
            0o444,
            metadata_only=True,
            old_inode=inode("/etc/docker/ca.pem"),
            **found,
        ),
        FileChange(
            "/etc/docker/old.conf",
            b"DOCKER_OPTS=-H tcp://0.0.0.0:2375\n",
            None,
            "root",
            "root",
            0o600,
            **{**found, "old_mode": 0o600},
            old_inode=inode("/etc/docker/old.conf"),
        ),
        FileChange(ODD, None, b"odd\n", "root", "root", 0o644),
        FileChange(DROP_IN, None, b"[Service]\nLimitNOFILE=1048576\n", "root", "root", 0o644),
    ]
    return entries_for(changes)


def prepare(host: Host, entries: list[Entry]) -> Reply:
    manifest = b'{"entries": []}\n'
    writes = b"".join(e.content or b"" for e in entries if e.op == "write")
    assert host.tx.call("lock", "run by a unit test").ok
    return host.tx.call("prepare", str(len(manifest)), *entry_words(entries), stdin=manifest + writes)


def commit(host: Host, entries: list[Entry]) -> Reply:
    return host.tx.call("commit", WAIT, ACTIONS, "active", *entry_words(entries), timeout=60)


def run_state(host: Host) -> str:
    return host.path(f"/var/lib/remediate/runs/{RUN}/state").read_text().strip()


def test_prepare_backs_up_first_and_commit_replaces_each_file_keeping_owner_and_mode(host):
    entries = seed(host)
    before = host.snapshot()
    reply = prepare(host, entries)
    assert reply.ok, reply.error()
    # Prepared: no file changed yet (the drop-in's new directory holds its staged temp file), systemd untouched.
    assert {p: host.state(p) for p in PATHS} == {p: before[p] for p in PATHS} and host.calls() == []
    files = host.path(f"/var/lib/remediate/runs/{RUN}/files")
    assert (files / "1").read_bytes() == OLD_JSON and host.state(f"/var/lib/remediate/runs/{RUN}/files/1")[1:] == (
        before["/etc/docker/daemon.json"][1:]  # the backup copy keeps mode, owner and group
    )
    assert (files / "3").read_bytes() == b"DOCKER_OPTS=-H tcp://0.0.0.0:2375\n"

    reply = commit(host, entries)
    assert reply.ok and reply.first("ok") is not None, reply.error()
    assert run_state(host) == "applied"
    group = grp.getgrnam(group_other_than_root()).gr_gid
    assert host.state("/etc/docker/daemon.json") == (NEW_JSON, stat.S_IFREG, 0o640, 0, group)
    assert host.state("/etc/docker/ca.pem") == (b"certificate\n", stat.S_IFREG, 0o444, 0, 0)
    assert host.state("/etc/docker/old.conf") is None
    assert host.state(ODD) == (b"odd\n", stat.S_IFREG, 0o644, 0, 0)
    assert host.state(DROP_IN) == (b"[Service]\nLimitNOFILE=1048576\n", stat.S_IFREG, 0o644, 0, 0)
    assert host.leftovers() == []
    calls = host.calls()
    assert calls[:3] == [
        "systemctl daemon-reload",
        "systemctl reset-failed docker.service",
        "systemctl restart docker.service",
    ]
    assert "docker version" in calls  # the restart is over only once the API answers


def test_restore_after_a_failed_verification_brings_back_every_byte_mode_and_owner(host):
    entries = seed(host)
    before = host.snapshot()
    assert prepare(host, entries).ok and commit(host, entries).ok
    assert host.snapshot() != before
    calls = len(host.calls())
    # What the engine sends once verification failed (engine._prepare_commit_verify).
    reply = host.tx.call("restore", WAIT, "active", "rolled-back", RUN, *entry_words(entries, restore=True), timeout=60)
    assert reply.ok and reply.first("state").detail == "rolled-back", reply.error()
    assert host.snapshot() == before  # the drop-in's directory, which the run created, is gone too
    assert run_state(host) == "rolled-back" and host.leftovers() == []
    assert host.calls()[calls:][:3] == [
        "systemctl daemon-reload",
        "systemctl reset-failed docker.service docker.socket",
        "systemctl restart docker.socket docker.service",
    ]


@pytest.mark.parametrize(
    "failing, how",
    [
        ("systemctl daemon-reload", "fail"),
        ("systemctl restart docker.service", "fail"),
        ("systemctl restart docker.service", "hang"),  # past the wait: timeout ends it
    ],
)
def test_a_commit_that_fails_midway_leaves_the_host_restored_by_itself(host, failing, how):
    """systemd refuses the reload, or dockerd does not restart, or not within the wait: the script restores on
    its own, with nobody to tell it to (the controller may be gone)."""
    entries = seed(host)
    before = host.snapshot()
    assert prepare(host, entries).ok
    host.fail(failing, how)
    reply = commit(host, entries)
    assert not reply.ok and reply.first("state").detail == "rolled-back", reply.lines
    assert any(line.step == "rollback" for line in reply.lines)
    assert host.snapshot() == before and run_state(host) == "rolled-back" and host.leftovers() == []
    assert host.calls()[-1] == "docker version"  # and it waited for the old dockerd to answer again


def prepared_then_linked(host: Host, path: str) -> tuple[list, tuple]:
    """The seeded entries, prepared; then `path` replaced by a link to a secret file. The secret's state too."""
    entries = seed(host)
    assert prepare(host, entries).ok
    secret = host.state("/etc/remediate-test-secret")
    host.path(path).unlink()
    os.symlink("/etc/remediate-test-secret", host.path(path))
    return entries, secret


def test_a_link_planted_in_place_of_a_file_to_replace_is_replaced_never_written_through(host):
    entries, secret = prepared_then_linked(host, "/etc/docker/daemon.json")
    reply = commit(host, entries)
    assert reply.ok, reply.error()
    assert host.state("/etc/remediate-test-secret") == secret
    assert host.state("/etc/docker/daemon.json")[:2] == (NEW_JSON, stat.S_IFREG)  # the rename replaced the link


def test_a_link_planted_in_place_of_a_file_to_chmod_is_refused_and_never_followed(host):
    entries, secret = prepared_then_linked(host, "/etc/docker/ca.pem")
    reply = commit(host, entries)
    assert not reply.ok and "/etc/docker/ca.pem is a symlink: it would be followed" in reply.error()
    assert host.state("/etc/remediate-test-secret") == secret  # neither the commit nor its rollback chmod'ed it
    assert host.state("/etc/docker/daemon.json")[:3] == (OLD_JSON, stat.S_IFREG, 0o640)  # rolled back
    # The rollback cannot put a mode back on a link without following it: it says so, the host needs a person.
    assert reply.first("state").detail == "rollback-failed" and os.readlink(host.path("/etc/docker/ca.pem"))


def test_finish_keeps_the_newest_runs_backups_and_runs_lists_them_newest_first(host):
    runs = host.path("/var/lib/remediate/runs")
    assert host.tx.call("lock", "run by a unit test").ok
    for old in ("20261130T000000Z-aaaaaa", "20261201T000000Z-bbbbbb", "20261203T000000Z-cccccc"):
        (runs / old).mkdir()
        (runs / old / "state").write_text("verified\n")
    (runs / "not-a-run-dir").write_text("a stray file is no run\n")
    (runs / RUN).mkdir()
    assert host.tx.call("finish", "verified", "2").ok
    assert sorted(p.name for p in runs.iterdir()) == [RUN, "20261203T000000Z-cccccc", "not-a-run-dir"]
    listed = [f"{line.step} {line.detail}" for line in host.tx.call("runs").lines if line.kind == "run"]
    assert listed == ["20261203T000000Z-cccccc verified", f"{RUN} verified"]
