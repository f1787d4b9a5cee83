"""Strict host-key checking against OpenSSH known_hosts files.

Like OpenSSH with StrictHostKeyChecking=yes by default: an unknown key is
refused, and so is a key that differs from the one recorded. With accept_new
(OpenSSH's `accept-new`) an unknown host's key is recorded and trusted, but a
host we already know that offers another key is refused every time. We are
stricter than OpenSSH in one way: a known host offering a key of a type we
have not recorded counts as changed, so a downgrade to another key type is
never accepted silently.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import base64
from dataclasses import dataclass
from pathlib import Path

import paramiko

from remediate.errors import HostKeyRejected


def lookup_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class KnownKey:
    path: Path
    line: int
    key_type: str
    key_b64: str


def _name_matches(field: str, name: str) -> bool:
    for pattern in field.split(","):
        if pattern.startswith("|1|"):
            try:
                _, _, salt_b64, hash_b64 = pattern.split("|")
                salt = base64.b64decode(salt_b64)
                expected = base64.b64decode(hash_b64)
            except ValueError:
                continue
            if hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), expected):
                return True
        elif pattern == name:
            return True
    return False


def known_keys(files: list[Path], name: str) -> list[KnownKey]:
    """Every key recorded for `name` in the files, with file and line for messages."""
    found = []
    for path in files:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if len(fields) < 3 or fields[0].startswith("#"):
                continue
            if fields[0].startswith("@"):  # @cert-authority / @revoked markers: not supported, skip
                continue
            if _name_matches(fields[0], name):
                found.append(KnownKey(path, number, fields[1], fields[2]))
    return found


def verify(host_label: str, name: str, key: paramiko.PKey, files: list[Path], accept_new: bool) -> None:
    """Raise HostKeyRejected unless `key` is the recorded key for `name` (or accept_new records it)."""
    offered_b64 = key.get_base64()
    recorded = known_keys(files, name)
    if any(k.key_type == key.get_name() and k.key_b64 == offered_b64 for k in recorded):
        return
    if recorded:
        first = recorded[0]
        raise HostKeyRejected(
            f"{host_label}: REMOTE HOST IDENTIFICATION HAS CHANGED for {name}! It offered "
            f"{key.get_name()} {fingerprint(key)}, but {first.path}:{first.line} records a different key "
            f"({first.key_type}). Someone could be intercepting the connection, or the host was reinstalled. "
            f"Verify the new key out of band, then remove the old line (ssh-keygen -R '{name}' -f {first.path}). "
            "A changed key is never accepted automatically."
        )
    if not accept_new:
        searched = ", ".join(str(f) for f in files) or "no known_hosts file"
        raise HostKeyRejected(
            f"{host_label}: host key for {name} is unknown ({key.get_name()} {fingerprint(key)}; searched "
            f"{searched}). Add it after verifying it (ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts), or run "
            "with --accept-new-host-keys to record keys of hosts never seen before."
        )
    if not files:
        raise HostKeyRejected(f"{host_label}: no known_hosts file to record the new key of {name} in")
    _append(files[0], f"{name} {key.get_name()} {offered_b64}\n")


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
