"""Opening a connection to an inventory host: the one place connection vars are read.

Inventory vars win over ~/.ssh/config (as in Ansible); ~/.ssh/config fills in
what the inventory leaves out (HostName, User, Port, IdentityFile, ProxyJump).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko

from remediate.connection.base import Become, CommandResult, Connection, quote_command
from remediate.connection.local import LocalConnection
from remediate.connection.ssh import Endpoint, SSHConnection, SSHSettings
from remediate.errors import ConnectionFailed

__all__ = ["Become", "CommandResult", "ConnectOptions", "Connection", "connect", "quote_command"]

TRUE_WORDS = {"true", "yes", "on", "1"}


class HostLike(Protocol):
    name: str
    vars: Mapping[str, Any]


@dataclass
class ConnectOptions:
    known_hosts: list[Path] = field(default_factory=lambda: [Path.home() / ".ssh" / "known_hosts"])
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    ssh_config: Path | None = field(default_factory=lambda: Path.home() / ".ssh" / "config")
    become_password: str | None = None

    def __repr__(self) -> str:
        return (f"ConnectOptions(known_hosts={self.known_hosts!r}, accept_new_host_keys={self.accept_new_host_keys}, "
                f"connect_timeout={self.connect_timeout}, become_password={'***' if self.become_password else None})")


def truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in TRUE_WORDS


def become_of(host: HostLike, options: ConnectOptions) -> Become | None:
    if not truthy(host.vars.get("ansible_become", False)):
        return None
    password = (host.vars.get("ansible_become_password") or host.vars.get("ansible_become_pass")
                or options.become_password)
    return Become(user=str(host.vars.get("ansible_become_user") or "root"),
                  password=str(password) if password else None)


def connect(host: HostLike, options: ConnectOptions,
            resolve_host: Callable[[str], HostLike | None] | None = None) -> Connection:
    """Open the connection the host's vars ask for (local or SSH, possibly through a jump host)."""
    become = become_of(host, options)
    kind = str(host.vars.get("ansible_connection") or "")
    if kind == "local" or (not kind and host.name in ("localhost", "127.0.0.1") and "ansible_host" not in host.vars):
        return LocalConnection(host.name, become)
    if kind not in ("", "ssh", "paramiko"):
        raise ConnectionFailed(f"{host.name}: unsupported ansible_connection {kind!r} (use ssh or local)")
    known = list(options.known_hosts)
    extra = host.vars.get("remediate_known_hosts")
    if extra:
        known = [Path(p) for p in ([extra] if isinstance(extra, str) else extra)] + known
    settings = SSHSettings(known_hosts=known, accept_new_host_keys=options.accept_new_host_keys,
                           connect_timeout=options.connect_timeout)
    return SSHConnection(endpoint_of(host, options, resolve_host), settings, become)


def endpoint_of(host: HostLike, options: ConnectOptions,
                resolve_host: Callable[[str], HostLike | None] | None = None, depth: int = 0) -> Endpoint:
    if depth > 5:
        raise ConnectionFailed(f"{host.name}: proxy jump chain too long (loop?)")
    address = str(host.vars.get("ansible_host") or host.name)
    cfg = _ssh_config(options).lookup(address) if options.ssh_config else {}
    port = _port(host.name, host.vars.get("ansible_port") or cfg.get("port") or 22)
    user = str(host.vars.get("ansible_user") or cfg.get("user") or "root")
    key = host.vars.get("ansible_ssh_private_key_file")
    key_files = [Path(str(key)).expanduser()] if key else [Path(p).expanduser() for p in cfg.get("identityfile", [])]
    endpoint = Endpoint(label=host.name, host=str(cfg.get("hostname") or address), port=port, user=user,
                        key_files=key_files)
    jump = host.vars.get("remediate_proxy_jump") or cfg.get("proxyjump")
    if jump and str(jump).lower() != "none":
        endpoint.jump = _jump_endpoint(host.name, str(jump), endpoint, options, resolve_host, depth)
    return endpoint


def _jump_endpoint(label: str, spec: str, target: Endpoint, options: ConnectOptions,
                   resolve_host, depth: int) -> Endpoint:
    """`user@host:port` like ssh -J (first hop only), or the name of an inventory host."""
    spec = spec.split(",")[0].strip()
    if resolve_host is not None:
        jump_host = resolve_host(spec)
        if jump_host is not None:
            return endpoint_of(jump_host, options, resolve_host, depth + 1)
    user, _, rest = spec.rpartition("@")
    host, _, port = rest.rpartition(":") if rest.count(":") == 1 or rest.startswith("[") else ("", "", "")
    host = (host or rest).strip("[]")
    return Endpoint(label=f"{label} (jump {host})", host=host, port=_port(label, port or 22),
                    user=user or target.user, key_files=target.key_files)


def _port(label: str, value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ConnectionFailed(f"{label}: invalid port {value!r}")
    return port


def _ssh_config(options: ConnectOptions) -> paramiko.SSHConfig:
    path = options.ssh_config
    if path is None or not path.exists():
        return paramiko.SSHConfig()
    return paramiko.SSHConfig.from_path(str(path))
