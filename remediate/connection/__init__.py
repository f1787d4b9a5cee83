"""Opening a connection to an inventory host: the one place connection vars are read.

Inventory vars win over ~/.ssh/config (as in Ansible); ~/.ssh/config fills in
what the inventory leaves out (HostName, User, Port, IdentityFile, ProxyJump,
HostKeyAlias, StrictHostKeyChecking, UserKnownHostsFile).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko

from remediate.connection.base import CommandResult, Connection, Limits, quote_command
from remediate.connection.become import Become
from remediate.connection.local import LocalConnection
from remediate.connection.ssh import Endpoint, SSHConnection, SSHSettings
from remediate.errors import InventoryError

__all__ = ["Become", "CommandResult", "ConnectOptions", "Connection", "HostLike", "Limits", "connect", "quote_command"]

TRUE_WORDS = {"true", "yes", "on", "1"}
_ADDRESS = re.compile(r"[A-Za-z0-9_.:%][A-Za-z0-9_.:%-]*")
MAX_JUMPS = 5


class HostLike(Protocol):
    name: str
    vars: Mapping[str, Any]


Resolver = Callable[[str], HostLike | None]


@dataclass
class ConnectOptions:
    """Run-wide settings; per-host vars (remediate_known_hosts, ansible_*) are added to them."""

    known_hosts: list[Path] = field(default_factory=lambda: [Path.home() / ".ssh" / "known_hosts"])
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    ssh_config: Path | None = field(default_factory=lambda: Path.home() / ".ssh" / "config")
    become_password: str | None = field(default=None, repr=False)  # wins over the inventory's
    keepalive: int = 15
    limits: Limits = field(default_factory=Limits)  # deadlines (per command, per host) and output caps


def truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in TRUE_WORDS


def connect(host: HostLike, options: ConnectOptions, resolve_host: Resolver | None = None) -> Connection:
    """Open the connection the host's vars ask for: local, or SSH (possibly through jump hosts)."""
    become = become_of(host, options)
    by_default = truthy(host.vars.get("ansible_become", False))
    kind = str(host.vars.get("ansible_connection") or "")
    if kind == "local" or (not kind and host.name == "localhost" and "ansible_host" not in host.vars):
        return LocalConnection(host.name, become, by_default, options.limits)
    if kind not in ("", "ssh", "paramiko", "smart"):
        raise InventoryError(f"{host.name}: unsupported ansible_connection {kind!r} (use ssh or local)")
    settings = SSHSettings(connect_timeout=options.connect_timeout, keepalive=options.keepalive)
    return SSHConnection(endpoint_of(host, options, resolve_host), settings, become, by_default, options.limits)


def become_of(host: HostLike, options: ConnectOptions) -> Become:
    method = str(host.vars.get("ansible_become_method") or "sudo")
    if method != "sudo":
        raise InventoryError(f"{host.name}: ansible_become_method {method!r} is not supported (only sudo)")
    password = (
        options.become_password or host.vars.get("ansible_become_password") or host.vars.get("ansible_become_pass")
    )
    return Become(
        user=str(host.vars.get("ansible_become_user") or "root"), password=str(password) if password else None
    )


def endpoint_of(
    host: HostLike, options: ConnectOptions, resolve_host: Resolver | None = None, depth: int = 0
) -> Endpoint:
    """Where and how to log in to `host`, with its jump hosts, from its vars and ~/.ssh/config."""
    if depth > MAX_JUMPS:
        raise InventoryError(f"{host.name}: proxy jump chain longer than {MAX_JUMPS} hops (a loop?)")
    v = host.vars
    address = _checked_address(host.name, "ansible_host", str(v.get("ansible_host") or host.name))
    cfg = _ssh_config(options).lookup(address)
    if cfg.get("proxycommand", "none").lower() != "none":
        raise InventoryError(f"{host.name}: ProxyCommand in the ssh config is not supported; use ProxyJump")
    extra = v.get("remediate_known_hosts") or []
    endpoint = Endpoint(
        label=host.name,
        host=str(cfg.get("hostname") or address),
        port=_port(host.name, _first(v.get("ansible_port"), cfg.get("port"), 22)),
        user=str(v.get("ansible_user") or cfg.get("user") or "root"),
        key_files=_key_files(v.get("ansible_ssh_private_key_file"), cfg),
        password=_str_or_none(v.get("ansible_password") or v.get("ansible_ssh_pass")),
        known_hosts=[Path(str(p)).expanduser() for p in ([extra] if isinstance(extra, (str, Path)) else extra)]
        + _config_known_hosts(cfg)
        + list(options.known_hosts),
        host_key_alias=cfg.get("hostkeyalias"),
        strict_host_key_checking="accept-new" if options.accept_new_host_keys else cfg.get("stricthostkeychecking"),
    )
    jump = v.get("remediate_proxy_jump") or cfg.get("proxyjump")
    if jump and str(jump).strip().lower() != "none":
        endpoint.jump = _jump_chain(host.name, str(jump), endpoint, options, resolve_host, depth)
    return endpoint


def _jump_chain(
    label: str, spec: str, target: Endpoint, options: ConnectOptions, resolve_host: Resolver | None, depth: int
) -> Endpoint:
    """`[user@]host[:port]` hops, comma-separated and in order, like ssh -J; a hop may name an inventory host."""
    previous: Endpoint | None = None
    for hop in (h.strip() for h in spec.split(",") if h.strip()):
        resolved = resolve_host(hop) if resolve_host is not None else None
        if resolved is not None:
            endpoint = endpoint_of(resolved, options, resolve_host, depth + 1)
        else:
            user, host, port = parse_jump(label, hop)
            cfg = _ssh_config(options).lookup(_checked_address(label, "proxy jump host", host))
            endpoint = Endpoint(
                label=f"{label} (jump host {hop})",
                host=str(cfg.get("hostname") or host),
                port=_port(label, port or cfg.get("port") or 22),
                user=user or str(cfg.get("user") or target.user),
                # The inventory's key for the target usually opens the bastion too (same admins).
                key_files=_key_files(None, cfg) + list(target.key_files),
                known_hosts=_config_known_hosts(cfg) + target.known_hosts,
                host_key_alias=cfg.get("hostkeyalias"),
                strict_host_key_checking=target.strict_host_key_checking,
            )
        if previous is not None:
            _innermost(endpoint).jump = previous
        previous = endpoint
        depth += 1
        if depth > MAX_JUMPS:
            raise InventoryError(f"{label}: proxy jump chain longer than {MAX_JUMPS} hops (a loop?)")
    if previous is None:
        raise InventoryError(f"{label}: proxy jump {spec!r} names no host")
    return previous


def _innermost(endpoint: Endpoint) -> Endpoint:
    while endpoint.jump is not None:
        endpoint = endpoint.jump
    return endpoint


def _checked_address(label: str, what: str, address: str) -> str:
    """A host name or IP literal, nothing else: it is looked up in ~/.ssh/config, where paramiko runs
    `Match exec` commands through a shell with the name spliced in (%h), as OpenSSH did before 9.6."""
    if not _ADDRESS.fullmatch(address):
        raise InventoryError(
            f"{label}: {what} {address!r} is not a host name or IP address "
            "(letters, digits and . _ : % - only, not starting with -)"
        )
    return address


def parse_jump(label: str, hop: str) -> tuple[str | None, str, int | None]:
    """`[ssh://][user@]host[:port]`, with `[v6addr]:port` brackets, as OpenSSH's -J takes it."""
    user, _, rest = hop.removeprefix("ssh://").rpartition("@")
    port: str | None = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":") or None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:
        host = rest
    if not host:
        raise InventoryError(f"{label}: cannot read proxy jump {hop!r} (want user@host:port)")
    return user or None, host, _port(label, port) if port else None


def _key_files(inventory_key: Any, cfg: Mapping[str, Any]) -> list[Path]:
    keys = [inventory_key] if inventory_key else []
    return [Path(str(k)).expanduser() for k in keys + list(cfg.get("identityfile", []))]


def _config_known_hosts(cfg: Mapping[str, Any]) -> list[Path]:
    return [Path(p).expanduser() for p in str(cfg.get("userknownhostsfile", "")).split()]


def _first(*values: Any) -> Any:
    """The first value that is set (0 and False count as set, so a bad port is reported, not replaced)."""
    return next(v for v in values if v is not None and v != "")


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def _port(label: str, value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if isinstance(value, bool) or not 0 < port < 65536:
        raise InventoryError(f"{label}: invalid port {value!r}")
    return port


def _ssh_config(options: ConnectOptions) -> paramiko.SSHConfig:
    path = options.ssh_config
    if path is None or not Path(path).expanduser().exists():
        return paramiko.SSHConfig()
    return paramiko.SSHConfig.from_path(str(Path(path).expanduser()))
