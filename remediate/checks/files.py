"""Section 3: owner and mode of the daemon's files, compared as bitmasks.

docker-bench-security compares modes as decimal numbers, so 602 "passes"
644; here a mode passes only when it sets no bit outside the allowed ones.
"""

from __future__ import annotations

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts.model import FileFact


def mode_ok(mode: int, allowed: int) -> bool:
    return mode & ~allowed & 0o7777 == 0


def _mode_outcome(files: list[FileFact], allowed: int, what: str) -> Outcome:
    present = [f for f in files if f.exists]
    if not present:
        return Outcome.na(f"{what}: not present on this host")
    bad = [f for f in present if f.mode is None or not mode_ok(f.mode, allowed)]
    evidence = [
        f"{f.path}: mode {f.mode_octal()}, allowed at most {allowed:04o}"
        + (
            f" (extra bits {f.mode & ~allowed & 0o7777:04o})"
            if f.mode is not None and not mode_ok(f.mode, allowed)
            else ""
        )
        for f in (bad or present)
    ]
    return Outcome.of(not bad, *evidence)


def _owner_outcome(files: list[FileFact], owner: str, group: str, what: str) -> Outcome:
    present = [f for f in files if f.exists]
    if not present:
        return Outcome.na(f"{what}: not present on this host")
    bad = [f for f in present if (f.owner, f.group) != (owner, group)]
    evidence = [f"{f.path}: owned by {f.owner}:{f.group}, expected {owner}:{group}" for f in (bad or present)]
    return Outcome.of(not bad, *evidence)


def _files(ctx: CheckContext, what: str) -> list[FileFact]:
    if what in ("docker.service", "docker.socket"):
        return ctx.unit_files(what)
    if what == "daemon.json":
        return [ctx.daemon_json]
    if what == "docker.sock":
        return [ctx.facts.file(p) for p in sorted(ctx.docker_socket_paths)]
    if what == "certs.d":
        return [f for p, f in sorted(ctx.facts.files.items()) if p.startswith("/etc/docker/certs.d/")]
    if what in ("tlscacert", "tlscert", "tlskey"):
        path = ctx.setting(what).value or dict(ctx.effective.tls.files).get(what)  # flag TLS: ~/.docker defaults
        return [ctx.facts.file(path)] if isinstance(path, str) and path else []
    return [ctx.facts.file(what)]


# check id -> (files, owner:group) or (files, max mode)
OWNERS = {
    "3.1": ("docker.service", "root:root"),
    "3.3": ("docker.socket", "root:root"),
    "3.5": ("/etc/docker", "root:root"),
    "3.7": ("certs.d", "root:root"),
    "3.9": ("tlscacert", "root:root"),
    "3.11": ("tlscert", "root:root"),
    "3.13": ("tlskey", "root:root"),
    "3.15": ("docker.sock", "root:docker"),
    "3.17": ("daemon.json", "root:root"),
    "3.19": ("/etc/default/docker", "root:root"),
    "3.22": ("/etc/sysconfig/docker", "root:root"),
    "3.23": ("/run/containerd/containerd.sock", "root:root"),
}
MODES = {
    "3.2": ("docker.service", 0o644),
    "3.4": ("docker.socket", 0o644),
    "3.6": ("/etc/docker", 0o755),
    "3.8": ("certs.d", 0o444),
    "3.10": ("tlscacert", 0o444),
    "3.12": ("tlscert", 0o444),
    "3.14": ("tlskey", 0o400),
    "3.16": ("docker.sock", 0o660),
    "3.18": ("daemon.json", 0o644),
    "3.20": ("/etc/default/docker", 0o644),
    "3.21": ("/etc/sysconfig/docker", 0o644),
    "3.24": ("/run/containerd/containerd.sock", 0o660),
}


def _owner_check(what: str, owner_group: str):
    owner, group = owner_group.split(":")
    return lambda ctx: _owner_outcome(_files(ctx, what), owner, group, what)


def _mode_check(what: str, allowed: int):
    return lambda ctx: _mode_outcome(_files(ctx, what), allowed, what)


for _id, (_what, _og) in OWNERS.items():
    predicate(_id)(_owner_check(_what, _og))
for _id, (_what, _mode) in MODES.items():
    predicate(_id)(_mode_check(_what, _mode))
