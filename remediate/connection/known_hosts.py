"""Strict host-key checking against OpenSSH known_hosts files, as paramiko policies.

OpenSSH's StrictHostKeyChecking values map to two policies (the way pyinfra
maps them, minus its AutoAdd/Warning fallbacks): `yes`/`ask` → refuse unknown
keys; `accept-new` (and `no`/`off`, which we never honour more loosely) →
record an unknown host's key in the first writable known_hosts file. A key
that differs from the one recorded is refused by both, every time. We are
stricter than OpenSSH in one way: a known host offering a key of a type we
have not recorded counts as changed, so a switch of key type is never taken
silently (`preferred_key_types` asks the server for the recorded type first,
so a legitimate server is not refused for it). `@revoked` keys are refused;
`@cert-authority` lines are not supported and never match.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from remediate.errors import HostKeyRejected

log = logging.getLogger(__name__)


def lookup_name(host: str, port: int) -> str:
    """The name OpenSSH files a host's key under: `host`, or `[host]:port` off port 22."""
    host = host.lower()
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
    marker: str = ""  # "" | "@revoked" | "@cert-authority"

    def same_key(self, key: paramiko.PKey) -> bool:
        return self.key_type == key.get_name() and self.key_b64 == key.get_base64()

    def describe(self) -> str:
        try:
            digest = hashlib.sha256(base64.b64decode(self.key_b64)).digest()
            shown = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
        except ValueError:
            shown = "unreadable key"
        return f"{self.path}:{self.line} ({self.key_type} {shown})"


def _glob(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _hashed_match(entry: str, name: str) -> bool:
    try:
        _, _, salt_b64, hash_b64 = entry.split("|")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), expected)


def names_match(field: str, name: str) -> bool:
    """OpenSSH host matching: hashed `|1|` entries, or comma lists of `*`/`?` globs with `!` negation."""
    if field.startswith("|1|"):
        return _hashed_match(field, name)
    matched = False
    for pattern in field.lower().split(","):
        if pattern.startswith("!"):
            if _glob(pattern[1:], name):
                return False
        elif _glob(pattern, name):
            matched = True
    return matched


class KnownHosts:
    """The known_hosts files for one connection, read once, with file and line for every key."""

    def __init__(self, files: Sequence[Path]):
        self.files = [Path(f).expanduser() for f in files]
        self._entries: list[tuple[str, KnownKey]] = []
        for path in self.files:
            try:
                lines = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for number, line in enumerate(lines, 1):
                fields = line.split()
                marker = fields.pop(0) if fields and fields[0].startswith("@") else ""
                if len(fields) < 3 or fields[0].startswith("#"):
                    continue
                self._entries.append((fields[0], KnownKey(path, number, fields[1], fields[2], marker)))

    def keys_for(self, name: str) -> list[KnownKey]:
        """The plain keys recorded for `name` (no markers), in file order."""
        name = name.lower()
        return [k for field, k in self._entries if not k.marker and names_match(field, name)]

    def revoked(self, name: str, key: paramiko.PKey) -> KnownKey | None:
        name = name.lower()
        for field, k in self._entries:
            if k.marker == "@revoked" and k.same_key(key) and names_match(field, name):
                return k
        return None

    def preferred_key_types(self, name: str, offered: Sequence[str]) -> list[str]:
        """Host key algorithms reordered so the server shows the key type we have on record."""
        known = {k.key_type for k in self.keys_for(name)}
        if not known:
            return list(offered)
        wanted = [alg for alg in offered if ("ssh-rsa" if alg.startswith("rsa-sha2-") else alg) in known]
        return wanted + [alg for alg in offered if alg not in wanted]

    def record(self, name: str, key: paramiko.PKey) -> Path:
        """Append the key to the first known_hosts file we can write, like OpenSSH accept-new."""
        line = f"{name.lower()} {key.get_name()} {key.get_base64()}\n"
        problems = []
        for path in self.files:
            try:
                _append(path, line)
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")
                continue
            return path
        raise HostKeyRejected(
            f"cannot record the new key of {name}: no writable known_hosts file"
            + (f" ({'; '.join(problems)})" if problems else " was given")
        )


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode())


class StrictHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """StrictHostKeyChecking=yes: only a key on record for this host is accepted.

    paramiko's own host-key store is left empty, so every key reaches this
    policy; `name` is the known_hosts name we computed (HostKeyAlias or
    `[host]:port`), and `label` names the inventory host in messages.
    """

    def __init__(self, known: KnownHosts, name: str, label: str):
        self.known = known
        self.name = name
        self.label = label
        self.accepted = False

    def missing_host_key(self, client, hostname, key) -> None:
        revoked = self.known.revoked(self.name, key)
        if revoked:
            raise HostKeyRejected(
                f"{self.label}: the host key of {self.name} ({key.get_name()} {fingerprint(key)}) "
                f"is marked @revoked at {revoked.path}:{revoked.line}; refusing to connect."
            )
        recorded = self.known.keys_for(self.name)
        if any(k.same_key(key) for k in recorded):
            self.accepted = True
            return
        if recorded:
            raise HostKeyRejected(self._changed_message(key, recorded))
        self.unknown(key)
        self.accepted = True

    def unknown(self, key: paramiko.PKey) -> None:
        searched = ", ".join(str(f) for f in self.known.files) or "no known_hosts file"
        host, _, port = self.name.removeprefix("[").partition("]:")
        raise HostKeyRejected(
            f"{self.label}: the host key of {self.name} is unknown (offered {key.get_name()} {fingerprint(key)}; "
            f"searched {searched}). Verify the fingerprint out of band, then add it: "
            f"ssh-keyscan {'-p ' + port + ' ' if port else ''}{host} >> ~/.ssh/known_hosts "
            "(or a file named by remediate_known_hosts), or run with --accept-new-host-keys "
            "to record the keys of hosts never seen before."
        )

    def _changed_message(self, key: paramiko.PKey, recorded: list[KnownKey]) -> str:
        where = "\n".join(f"  {k.describe()}" for k in recorded)
        first = recorded[0]
        return (
            f"{self.label}:\n"
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
            "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n"
            "It is also possible that the host was reinstalled or its key replaced.\n"
            f"{self.name} offered {key.get_name()} {fingerprint(key)}, but known_hosts records:\n{where}\n"
            "The connection was refused; a changed key is never accepted, even with --accept-new-host-keys.\n"
            f"If the change is expected, verify the new key out of band, then remove the old one: "
            f"ssh-keygen -R '{self.name}' -f {first.path}"
        )


class AcceptNewHostKeyPolicy(StrictHostKeyPolicy):
    """StrictHostKeyChecking=accept-new: record the keys of new hosts, still refuse changed ones."""

    def unknown(self, key: paramiko.PKey) -> None:
        path = self.known.record(self.name, key)
        log.warning(
            "%s: recorded new host key %s %s for %s in %s",
            self.label,
            key.get_name(),
            fingerprint(key),
            self.name,
            path,
        )


_POLICIES = {
    "yes": StrictHostKeyPolicy,
    "ask": StrictHostKeyPolicy,
    "accept-new": AcceptNewHostKeyPolicy,
    "no": AcceptNewHostKeyPolicy,
    "off": AcceptNewHostKeyPolicy,
}


def host_key_policy(mode: str | None, known: KnownHosts, name: str, label: str) -> StrictHostKeyPolicy:
    """The paramiko host-key policy for a StrictHostKeyChecking value; anything unknown is treated as `yes`."""
    return _POLICIES.get((mode or "yes").strip().lower(), StrictHostKeyPolicy)(known, name, label)
