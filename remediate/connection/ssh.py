"""SSH connections on paramiko: one transport per host, reused for every command.

We drive paramiko.Transport directly instead of SSHClient so that the host key
is checked by our strict policy (known_hosts.verify) before any credential is
offered, and so that a ProxyJump hop is just another transport whose
direct-tcpip channel becomes the socket of the next one.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from remediate.connection import known_hosts
from remediate.connection.base import Become, CommandResult, Connection
from remediate.errors import AuthenticationFailed, CommandFailed, ConnectionFailed, Unreachable

DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass
class Endpoint:
    """Where and as whom to log in; `label` names it in messages (the inventory host name)."""

    label: str
    host: str
    port: int = 22
    user: str = "root"
    key_files: list[Path] = field(default_factory=list)
    jump: Endpoint | None = None


@dataclass
class SSHSettings:
    known_hosts: list[Path]
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 15
    use_agent: bool = True


class SSHConnection(Connection):
    def __init__(self, endpoint: Endpoint, settings: SSHSettings, become: Become | None = None):
        super().__init__(endpoint.label, endpoint.user, become)
        self.endpoint = endpoint
        self._transports: list[paramiko.Transport] = []
        try:
            self._transport = self._open(endpoint, settings)
        except BaseException:
            self.close()
            raise

    def _open(self, ep: Endpoint, settings: SSHSettings) -> paramiko.Transport:
        if ep.jump is not None:
            hop = self._open(ep.jump, settings)
            try:
                sock = hop.open_channel("direct-tcpip", (ep.host, ep.port), ("127.0.0.1", 0),
                                        timeout=settings.connect_timeout)
            except (paramiko.SSHException, OSError) as exc:
                raise Unreachable(f"{ep.label}: jump host {ep.jump.label} could not reach "
                                  f"{ep.host}:{ep.port}: {exc}") from exc
        else:
            try:
                sock = socket.create_connection((ep.host, ep.port), timeout=settings.connect_timeout)
            except OSError as exc:
                raise Unreachable(f"{ep.label}: cannot connect to {ep.host}:{ep.port}: "
                                  f"{exc.strerror or exc}") from exc
        transport = paramiko.Transport(sock)
        self._transports.append(transport)
        transport.banner_timeout = settings.connect_timeout
        transport.handshake_timeout = settings.connect_timeout
        try:
            transport.start_client(timeout=settings.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(f"{ep.label}: no SSH service answered at {ep.host}:{ep.port}: {exc}") from exc
        known_hosts.verify(ep.label, known_hosts.lookup_name(ep.host, ep.port), transport.get_remote_server_key(),
                           settings.known_hosts, settings.accept_new_host_keys)
        self._authenticate(transport, ep, settings)
        transport.set_keepalive(settings.keepalive)
        return transport

    def _authenticate(self, transport: paramiko.Transport, ep: Endpoint, settings: SSHSettings) -> None:
        tried = []
        for key in self._keys(ep, settings):
            try:
                transport.auth_publickey(ep.user, key)
            except paramiko.AuthenticationException:
                tried.append(f"{key.get_name()} {known_hosts.fingerprint(key)}")
                continue
            except paramiko.SSHException as exc:
                raise ConnectionFailed(f"{ep.label}: authentication failed: {exc}") from exc
            if transport.is_authenticated():
                return
        raise AuthenticationFailed(
            f"{ep.label}: {ep.user}@{ep.host}:{ep.port} refused every key offered"
            + (f" ({'; '.join(tried)})" if tried else " (no key: set ansible_ssh_private_key_file or use ssh-agent)")
        )

    @staticmethod
    def _keys(ep: Endpoint, settings: SSHSettings):
        files = list(ep.key_files)
        if not files:
            files = [Path.home() / ".ssh" / name for name in DEFAULT_IDENTITIES]
        for path in files:
            if not path.exists():
                if ep.key_files:
                    raise AuthenticationFailed(f"{ep.label}: key file {path} does not exist")
                continue
            try:
                yield paramiko.PKey.from_path(str(path))
            except (paramiko.SSHException, ValueError, OSError) as exc:
                raise AuthenticationFailed(f"{ep.label}: cannot load key {path}: {exc}") from exc
        if settings.use_agent:
            try:
                yield from paramiko.Agent().get_keys()
            except paramiko.SSHException:
                return

    def _exec(self, command: str, stdin: bytes | None, timeout: float | None) -> CommandResult:
        try:
            channel = self._transport.open_session(timeout=timeout or 30)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"{self.host_name}: connection lost: {exc}") from exc
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            errors: list[bytes] = []
            reader = threading.Thread(target=lambda: errors.append(channel.makefile_stderr("rb").read()),
                                      daemon=True)
            reader.start()
            writer = threading.Thread(target=self._feed, args=(channel, stdin or b""), daemon=True)
            writer.start()
            out = channel.makefile("rb").read()
            rc = channel.recv_exit_status()
            reader.join(timeout)
            writer.join(timeout)
        except socket.timeout as exc:
            raise CommandFailed(f"{self.host_name}: command timed out after {timeout}s") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise Unreachable(f"{self.host_name}: connection lost during a command: {exc}") from exc
        finally:
            channel.close()
        return CommandResult(rc, out, errors[0] if errors else b"")

    @staticmethod
    def _feed(channel: paramiko.Channel, data: bytes) -> None:
        try:
            if data:
                channel.sendall(data)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def close(self) -> None:
        for transport in reversed(self._transports):
            transport.close()
        self._transports.clear()
