"""SSH connections on paramiko: one authenticated transport per host, reused for every command.

Host keys are checked by our own MissingHostKeyPolicy (remediate.connection.
known_hosts); paramiko's host-key store stays empty so every key reaches it,
and a transport factory asks the server for the key type we have on record.
A ProxyJump hop is just another connection whose `direct-tcpip` channel
becomes the socket of the next one, each hop's host key checked as strictly.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from remediate.connection.base import READ_CHUNK, CommandResult, Connection, Limits, OutputBudget, quote_command
from remediate.connection.become import Become
from remediate.connection.known_hosts import KnownHosts, host_key_policy, lookup_name
from remediate.errors import (
    AuthenticationFailed,
    CommandFailed,
    ConnectionFailed,
    HostKeyRejected,
    RemediateError,
    Unreachable,
)

log = logging.getLogger(__name__)

# sshd hands the command line to the login shell as ONE argument, and Linux caps
# a single argument at 128 KiB (MAX_ARG_STRLEN); stay clearly below it.
MAX_COMMAND_BYTES = 120_000
# How long past a command's deadline its helper threads may take to notice the closed channel.
THREAD_GRACE = 5.0


@dataclass
class Endpoint:
    """Where and as whom to log in; `label` names it in messages (the inventory host name)."""

    label: str
    host: str
    port: int = 22
    user: str = "root"
    key_files: list[Path] = field(default_factory=list)
    password: str | None = field(default=None, repr=False)
    known_hosts: list[Path] = field(default_factory=list)
    host_key_alias: str | None = None
    strict_host_key_checking: str | None = None  # an OpenSSH value; None means "yes"
    jump: Endpoint | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return (self.host_key_alias or lookup_name(self.host, self.port)).lower()


@dataclass
class SSHSettings:
    connect_timeout: float = 10.0  # TCP connect, SSH banner, key exchange, auth and channel open, each
    keepalive: int = 15
    use_agent: bool = True


class SSHConnection(Connection):
    def __init__(
        self,
        endpoint: Endpoint,
        settings: SSHSettings | None = None,
        become: Become | None = None,
        become_by_default: bool = False,
        limits: Limits | None = None,
    ):
        super().__init__(endpoint.label, endpoint.user, become, become_by_default, limits)
        self.endpoint = endpoint
        self.settings = settings or SSHSettings()
        self._clients: list[paramiko.SSHClient] = []
        try:
            self._transport = self._open(endpoint)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        via = f" via {self.endpoint.jump.address}" if self.endpoint.jump else ""
        return f"<SSHConnection {self.host_name} {self.endpoint.address}{via} become={self.become!r}>"

    def _open(self, ep: Endpoint) -> paramiko.Transport:
        missing = [str(p) for p in ep.key_files if not p.is_file()]
        if missing:
            raise AuthenticationFailed(f"{ep.label}: private key file {', '.join(missing)} does not exist")
        known = KnownHosts(ep.known_hosts)
        policy = host_key_policy(ep.strict_host_key_checking, known, ep.known_hosts_name, ep.label)
        client = paramiko.SSHClient()
        self._clients.append(client)
        client.set_missing_host_key_policy(policy)
        sock = self._socket(ep)

        def transport_factory(sock, **kwargs) -> paramiko.Transport:
            transport = paramiko.Transport(sock, **kwargs)
            options = transport.get_security_options()
            options.key_types = known.preferred_key_types(ep.known_hosts_name, options.key_types)
            return transport

        timeout = self.settings.connect_timeout
        try:
            client.connect(
                ep.host,
                ep.port,
                username=ep.user,
                password=ep.password,
                key_filename=[str(p) for p in ep.key_files] or None,  # type: ignore[arg-type]  # paramiko takes a list too
                look_for_keys=not ep.key_files,
                allow_agent=self.settings.use_agent,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                transport_factory=transport_factory,
            )
        except HostKeyRejected:
            raise
        except paramiko.AuthenticationException as exc:
            raise AuthenticationFailed(self._auth_message(ep, exc)) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if policy.accepted:  # the host proved its identity; what failed was logging in
                raise AuthenticationFailed(self._auth_message(ep, exc)) from None
            raise Unreachable(
                f"{ep.label}: no SSH service answered at {ep.host}:{ep.port}"
                f"{self._via(ep)}: {exc or type(exc).__name__}"
            ) from None
        transport = client.get_transport()
        assert transport is not None, "SSHClient.connect returned without a transport"
        transport.set_keepalive(self.settings.keepalive)
        return transport

    def _socket(self, ep: Endpoint):
        timeout = self.settings.connect_timeout
        if ep.jump is not None:
            hop = self._open(ep.jump)
            try:
                return hop.open_channel("direct-tcpip", (ep.host, ep.port), ("127.0.0.1", 0), timeout=timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise Unreachable(
                    f"{ep.label}: jump host {ep.jump.address} could not reach "
                    f"{ep.host}:{ep.port}: {exc or type(exc).__name__}"
                ) from None
        try:
            sock = socket.create_connection((ep.host, ep.port), timeout=timeout)
        except socket.gaierror as exc:
            reason = f"cannot resolve host name ({exc.strerror})"
        except TimeoutError:
            reason = f"no answer within {timeout:g}s"
        except ConnectionRefusedError:
            reason = "connection refused"
        except OSError as exc:
            reason = exc.strerror or str(exc)
        else:
            # Send each SSH packet at once. With Nagle's algorithm a packet that follows an unacknowledged
            # one (a channel's close, then the next channel's open) waits for the server's delayed ACK:
            # 40 ms on every round trip after the first, measured. paramiko leaves the option off.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        raise Unreachable(f"{ep.label}: cannot connect to {ep.host}:{ep.port}: {reason}")

    @staticmethod
    def _via(ep: Endpoint) -> str:
        return f" (via jump host {ep.jump.address})" if ep.jump else ""

    def _auth_message(self, ep: Endpoint, exc: Exception) -> str:
        offered = [str(p) for p in ep.key_files] or ["the default ~/.ssh keys"]
        if self.settings.use_agent:
            offered.append("ssh-agent")
        if ep.password:
            offered.append("a password")
        return (
            f"{ep.label}: {ep.address}{self._via(ep)} refused every key offered ({', '.join(offered)}): "
            f"{exc or type(exc).__name__}"
        )

    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float, budget: OutputBudget) -> CommandResult:
        command = quote_command(argv)
        if len(command.encode()) > MAX_COMMAND_BYTES:
            raise CommandFailed(
                f"{self.host_name}: command line of {len(command.encode())} bytes is longer than "
                f"the remote shell accepts ({MAX_COMMAND_BYTES}); split the batch"
            )
        deadline = time.monotonic() + timeout
        self.phase = "the SSH server to open a session"
        try:
            channel = self._transport.open_session(timeout=min(self.settings.connect_timeout, timeout))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if self.closed:
                raise ConnectionFailed(f"{self.host_name}: the connection is closed") from None
            raise ConnectionFailed(f"{self.host_name}: connection lost: {exc or type(exc).__name__}") from None
        log.debug("%s: exec %.300s", self.host_name, command)
        # One deadline from the exec request on: paramiko waits for the server's answer to it (and for window
        # space, output, the exit status) without one. Closing the channel wakes every one of those waits.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _close(channel)

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        timer.daemon = True
        result = None
        with channel:
            channel.settimeout(timeout)  # no single read or write waits past the deadline, even without the timer
            timer.start()
            try:
                self.phase = "the SSH server to answer the exec request"
                channel.exec_command(command)
                self.phase = "the command's output and exit status"
                result = _collect(channel, stdin, budget, deadline)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if not expired.is_set():
                    raise self._lost(
                        f"the SSH server refused to run the command: {exc or type(exc).__name__}"
                    ) from None
            finally:
                timer.cancel()
        if expired.is_set() or result is None:  # no result only when the deadline closed the channel
            raise self._timed_out(timeout)
        if result.rc == -1 and not budget.exceeded and not self._transport.is_active():
            raise self._lost("connection lost during a command")
        return result

    def _lost(self, reason: str) -> RemediateError:
        if self.closed:
            return ConnectionFailed(f"{self.host_name}: the connection was closed during a command")
        if not self._transport.is_active():
            return ConnectionFailed(f"{self.host_name}: connection lost during a command")
        return CommandFailed(f"{self.host_name}: {reason}")

    def _close(self) -> None:
        for client in reversed(self._clients):
            client.close()
        self._clients.clear()


def _collect(channel: paramiko.Channel, stdin: bytes | None, budget: OutputBudget, deadline: float) -> CommandResult:
    """stdout, stderr and stdin all at once (no window deadlock); the caller's timer closes the channel at the
    deadline, and past the output budget the readers close it themselves."""
    errors: list[bytes] = []

    def feed() -> None:
        try:
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited without reading everything: not our failure

    reader = threading.Thread(target=lambda: errors.append(_drain(channel, channel.recv_stderr, budget)), daemon=True)
    writer = threading.Thread(target=feed, daemon=True)
    reader.start()
    writer.start()
    out = _drain(channel, channel.recv, budget)
    for thread in (reader, writer):
        thread.join(max(0.0, deadline - time.monotonic()) + THREAD_GRACE)
    rc = channel.recv_exit_status()  # at the latest when the channel closes: by the deadline, or past the budget
    return CommandResult(rc, out, errors[0] if errors else b"")


def _drain(channel: paramiko.Channel, recv, budget: OutputBudget) -> bytes:
    chunks = []
    try:
        while chunk := recv(READ_CHUNK):
            if not budget.take(chunk):
                _close(channel)  # stop the command where it is: nothing more of it is read or kept
                break
            chunks.append(chunk)
    except TimeoutError:
        pass  # the deadline passed; the caller's timer reports it
    return b"".join(chunks)


def _close(channel: paramiko.Channel) -> None:
    """Close from a helper thread: the close message may not reach a host whose connection is gone."""
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        channel.close()
