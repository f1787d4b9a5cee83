"""A small SSH server on 127.0.0.1 for tests of how the controller treats a host that misbehaves.

It speaks the real protocol (paramiko's server side) on an ephemeral port, with
a host key of its own written to a known_hosts file of its own, so clients keep
strict host-key checking on; it lets in one user with one generated key. What
it does with an exec request is its `behaviour`:

  answer  reply with `reply(command)` -> (stdout, stderr, exit status), once the
          client has sent all its stdin (so the reply never overtakes the
          server's answer to the exec request)
  hang    accept the login, and never answer an exec request
  flood   accept the exec request, then send output on stdout and stderr
          without end (or `flood_bytes` in all)

Use it as a context manager: leaving it stops every thread it started.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import paramiko

from remediate.connection import ConnectOptions, Limits
from remediate.connection.ssh import Endpoint, SSHConnection, SSHSettings

Reply = Callable[[str], tuple[bytes, bytes, int]]
USER = "tester"
FLOOD_CHUNK = b"x" * 32768


class FakeSSHServer:
    def __init__(
        self,
        directory: Path,
        behaviour: str = "answer",
        *,
        reply: Reply | None = None,
        flood_bytes: int | None = None,
        name: str = "fake",
    ):
        if behaviour not in ("answer", "hang", "flood"):
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.reply = reply or (lambda command: (b"", b"", 0))
        self.flood_bytes = flood_bytes
        self.name = name
        self.commands: list[str] = []  # every exec request received, in order
        self.sent = 0  # bytes a flood sent
        self._host_key = paramiko.ECDSAKey.generate()
        self._client_key = paramiko.ECDSAKey.generate()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        directory.mkdir(parents=True, exist_ok=True)
        self.key_file = directory / f"{name}_id_ecdsa"
        self._client_key.write_private_key_file(str(self.key_file))
        self.known_hosts = directory / f"{name}_known_hosts"
        self.known_hosts.write_text(
            f"[127.0.0.1]:{self.port} {self._host_key.get_name()} {self._host_key.get_base64()}\n"
        )

    # --- what a test connects with ---------------------------------------------------------------------

    def endpoint(self, label: str | None = None) -> Endpoint:
        return Endpoint(
            label=label or self.name,
            host="127.0.0.1",
            port=self.port,
            user=USER,
            key_files=[self.key_file],
            known_hosts=[self.known_hosts],
        )

    def connect(self, limits: Limits | None = None, label: str | None = None) -> SSHConnection:
        return SSHConnection(self.endpoint(label), SSHSettings(connect_timeout=5, use_agent=False), limits=limits)

    def host(self, name: str | None = None) -> SimpleNamespace:
        """An inventory host for remediate.connection.connect / run_fleet (strict host-key checking on)."""
        return SimpleNamespace(
            name=name or self.name,
            groups=(),
            vars={
                "ansible_host": "127.0.0.1",
                "ansible_port": self.port,
                "ansible_user": USER,
                "ansible_ssh_private_key_file": str(self.key_file),
                "remediate_known_hosts": [str(self.known_hosts)],
            },
        )

    @staticmethod
    def options(limits: Limits | None = None) -> ConnectOptions:
        """Run-wide options that read no file of the user's (known_hosts come from each host's vars)."""
        return ConnectOptions(known_hosts=[], ssh_config=None, connect_timeout=5, limits=limits or Limits())

    # --- life cycle -----------------------------------------------------------------------------------

    def __enter__(self) -> FakeSSHServer:
        self._spawn(self._serve)
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        for thread in list(self._threads):
            thread.join(10)
        for transport in transports:
            if transport.is_alive():
                transport.join(10)
        alive = [t.name for t in [*self._threads, *transports] if t.is_alive()]
        assert not alive, f"fake SSH server threads still running: {alive}"

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=f"fake-ssh {self.name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed: stopping
            transport = paramiko.Transport(sock)
            transport.add_server_key(self._host_key)
            with self._lock:
                self._transports.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue  # the client hung up during the handshake

    # --- behaviours (called on paramiko's transport thread, or on threads of ours) --------------------

    def exec_request(self, channel: paramiko.Channel, command: str) -> bool:
        self.commands.append(command)
        if self.behaviour == "hang":
            self._stopping.wait()  # never answer while the test runs
            return False
        self._spawn(self._answer if self.behaviour == "answer" else self._flood, channel, command)
        return True

    def _answer(self, channel: paramiko.Channel, command: str) -> None:
        try:
            channel.settimeout(10)
            while channel.recv(65536):  # stdin, to its end: the client sends EOF once the exec was answered
                pass
            stdout, stderr, rc = self.reply(command)
            channel.sendall(stdout)
            channel.sendall_stderr(stderr)
            channel.send_exit_status(rc)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            _close(channel)

    def _flood(self, channel: paramiko.Channel, command: str) -> None:
        try:
            while not self._stopping.is_set() and (self.flood_bytes is None or self.sent < self.flood_bytes):
                channel.sendall(FLOOD_CHUNK)
                channel.sendall_stderr(FLOOD_CHUNK)
                self.sent += 2 * len(FLOOD_CHUNK)
            channel.send_exit_status(0)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client closed the channel: what a controller that stops reading does
        finally:
            _close(channel)


def _close(channel: paramiko.Channel) -> None:
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):  # the client's side is gone already
        channel.close()


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: FakeSSHServer):
        self.server = server

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == USER and key.asbytes() == self.server._client_key.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        return self.server.exec_request(channel, command.decode("utf-8", errors="replace"))
