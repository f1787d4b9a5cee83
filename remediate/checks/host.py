"""Section 1: the host — audit rules on the exact Docker paths (as the host resolves them), docker group, version."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import yaml

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.policy import DATA_DIR_CHECKS

# CIS 1.1.3-1.1.18: check id -> how to find the path on this host.
# ("bin", name): the real path of that binary; ("unit", name): the unit's file;
# ("path", p): a fixed path, audited only when it exists; ("data-root", p) and ("config", p): dockerd's data
# root and configuration file as the effective configuration has them (data-root, --config-file), p by default.
AUDITED = {
    "1.1.3": ("bin", "dockerd"),
    "1.1.4": ("path", "/run/containerd"),
    "1.1.5": ("data-root", "/var/lib/docker"),
    "1.1.6": ("path", "/etc/docker"),
    "1.1.7": ("unit", "docker.service"),
    "1.1.8": ("path", "/run/containerd/containerd.sock"),
    "1.1.9": ("unit", "docker.socket"),
    "1.1.10": ("path", "/etc/default/docker"),
    "1.1.11": ("config", "/etc/docker/daemon.json"),
    "1.1.12": ("path", "/etc/containerd/config.toml"),
    "1.1.13": ("path", "/etc/sysconfig/docker"),
    "1.1.14": ("bin", "containerd"),
    "1.1.15": ("bin", "containerd-shim"),
    "1.1.16": ("bin", "containerd-shim-runc-v1"),
    "1.1.17": ("bin", "containerd-shim-runc-v2"),
    "1.1.18": ("bin", "runc"),
}
# Why the policy's default (auditd_data_dirs: none) leaves 1.1.4 and 1.1.5 unwatched.
DATA_DIR_WHY = (
    "not watched on purpose (policy auditd_data_dirs: none): a `-w DIR` watch is recursive, so every "
    "file containers and image pulls write under it becomes an audit record (log volume, audit backlog)"
)
# Directories the facts do not read but that exist wherever Docker runs.
_ALWAYS_PRESENT = {"/run/containerd"}
# Release lines and their newest patch release: data, updated in one place (1.2.2).
ENGINE_RELEASES = Path(__file__).with_name("engine_releases.yml")


def configured_path(ctx: CheckContext, check_id: str) -> str:
    """The path a "path", "data-root" or "config" check audits on this host, whether or not it exists yet."""
    kind, name = AUDITED[check_id]
    if kind == "config":
        return ctx.effective.daemon_json_path
    if kind == "data-root":
        root = ctx.setting("data-root").value
        return root.rstrip("/") or "/" if isinstance(root, str) and root.startswith("/") else name
    return name


def audited_path(ctx: CheckContext, check_id: str) -> str | None:
    """The real path CIS wants watched for this check on this host, or None when it does not exist."""
    kind, name = AUDITED[check_id]
    if kind == "bin":
        return ctx.binaries.get(name)
    if kind == "unit":
        return (ctx.service if name == "docker.service" else ctx.socket).fragment_path or None
    path = configured_path(ctx, check_id)
    if path in _ALWAYS_PRESENT:
        return path if ctx.docker_installed else None
    if kind == "data-root" and path not in ctx.facts.files:
        # A moved data root is not among the paths gathered: the running dockerd's root shows it exists
        # (<data-root>/<uid>.<gid> under userns-remap).
        root = (ctx.docker_info or {}).get("DockerRootDir") or ""
        return path if root == path or root.startswith(path + "/") else None
    return path if ctx.facts.file(path).exists else None


def _absent(ctx: CheckContext, check_id: str) -> str:
    kind, name = AUDITED[check_id]
    if kind in ("bin", "unit"):
        return f"{name} does not exist on this host"
    path = configured_path(ctx, check_id)
    if kind == "data-root" and path not in ctx.facts.files:
        return (
            f"data-root {path} is not among the paths gathered, and the running dockerd does not report it "
            "as its root: whether it exists is unknown"
        )
    return f"{path} does not exist on this host"


def _audit_check(check_id: str):
    def check(ctx: CheckContext) -> Outcome:
        path = audited_path(ctx, check_id)
        if path is None:
            return Outcome.na(_absent(ctx, check_id))
        real = ctx.canonical(path)
        matches = ctx.rules_watching(path)
        if matches:
            return Outcome.passed(
                *(f"{r.source}:{r.line}: {r.text}" + _same_file(r.watched_path() or path, path, real) for r in matches)
            )
        near = [r for r in ctx.auditd_rules if path in (r.watched_path() or "")]
        hint = [f"rule for another path (not a match): {r.source}:{r.line}: {r.text}" for r in near[:2]]
        source = "auditctl -l" if any(r.source == "auditctl -l" for r in ctx.auditd_rules) else "audit rules files"
        resolved = [f"{path} is {real} as this host resolves it"] if real != path else []
        return Outcome.failed(
            f"no audit rule watches {path} exactly ({len(ctx.auditd_rules)} rules in {source})",
            *hint,
            *resolved,
            *_unwatched_on_purpose(ctx, check_id),
        )

    return check


def _unwatched_on_purpose(ctx: CheckContext, check_id: str) -> list[str]:
    """Why harden leaves a data directory unwatched under this policy (never a pass: CIS wants the watch)."""
    if check_id not in DATA_DIR_CHECKS or ctx.policy.auditd_data_dirs != "none":
        return []
    return [DATA_DIR_WHY, "harden adds this watch only under a policy with auditd_data_dirs: recursive"]


def _same_file(watched: str, path: str, real: str) -> str:
    """The note on a rule that spells the path otherwise (/lib/... for /usr/lib/..., a trailing slash)."""
    if watched == path:
        return ""
    return f" (the same file as {path} on this host" + ("" if real == path else f": {real}") + ")"


for _id in AUDITED:
    predicate(_id)(_audit_check(_id))


@predicate("1.1.1")
def separate_partition(ctx: CheckContext) -> Outcome:
    mount = ctx.parsed.docker_root_mount
    if not mount:
        return Outcome.info("could not tell which filesystem holds /var/lib/docker")
    return Outcome.of(mount.split()[0] == "/var/lib/docker", f"/var/lib/docker is on the filesystem mounted at {mount}")


@predicate("1.1.2")
def docker_group(ctx: CheckContext) -> Outcome:
    members = ctx.docker_group_members
    if not members:
        return Outcome.passed("the docker group has no members")
    return Outcome.failed(f"docker group members (each is root-equivalent): {', '.join(members)}")


@predicate("1.2.1")
def host_hardened(ctx: CheckContext) -> Outcome:
    return Outcome.info("not assessed automatically: apply an OS hardening baseline")


@cache
def engine_releases() -> dict:
    """engine_releases.yml: {checked: date, lines: {"29": {latest, released, eol}, "25.0": ...}}."""
    return yaml.safe_load(ENGINE_RELEASES.read_text())


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _release_line(version: tuple[int, ...], lines: dict) -> str | None:
    """The line a version belongs to: "25.0" for 25.0.3 where the table has 25.0, else "29" for 29.2.1."""
    for key in (f"{version[0]}.{version[1]}", f"{version[0]}"):
        if key in lines:
            return key
    return None


@predicate("1.2.2")
def docker_version(ctx: CheckContext) -> Outcome:
    text = ctx.parsed.dockerd_version.text
    match = re.match(r"\d+\.\d+\.\d+", ctx.parsed.dockerd_version.version or "")
    if not match:
        return Outcome.na("dockerd is not installed")
    version, table = _numbers(match.group()), engine_releases()
    lines, checked = table["lines"], table["checked"]
    found = f"{text} (release table checked {checked})"
    upgrade = f"upgrade to a maintained line (newest maintained release: {_newest_maintained(lines, ctx.today)})"
    line = _release_line(version, lines)
    if line is None:
        if version > max(_numbers(spec["latest"]) for spec in lines.values()):
            return Outcome.passed(found, "newer than every line in the release table: the table needs updating")
        return Outcome.failed(
            found, f"engine line {version[0]}.{version[1]} is past its end of life (no security fixes); {upgrade}"
        )
    spec = lines[line]
    latest = str(spec["latest"])
    newest = f"the newest {line} patch release is {latest}" + (f" ({spec['released']})" if spec["released"] else "")
    eol = spec["eol"]
    if isinstance(eol, dt.date) and ctx.today > eol:
        return Outcome.failed(
            found, f"engine line {line} is past its end of life since {eol} (no security fixes; {newest}); {upgrade}"
        )
    if version < _numbers(latest):
        return Outcome.failed(
            found,
            f"{newest}: later patch releases carry security fixes this engine lacks "
            f"(newest maintained release: {_newest_maintained(lines, ctx.today)})",
        )
    return Outcome.passed(found, f"{newest}" + (f"; line {line} is maintained until {eol}" if eol else ""))


def _newest_maintained(lines: dict, today: dt.date) -> str:
    maintained = [
        str(spec["latest"]) for spec in lines.values() if not isinstance(spec["eol"], dt.date) or spec["eol"] >= today
    ]
    return max(maintained, key=_numbers) if maintained else "none in the table"
