"""SSHConnection's handshake-time decisions against an in-process paramiko server on 127.0.0.1.

The server offers a host key and refuses every login, which is all it takes to
prove the order of checks (host key before any credential) and the mapping of
failures to Unreachable / HostKeyRejected / AuthenticationFailed without the lab.
"""

from __future__ import annotations

import socket
import threading
import time

import paramiko
import pytest

from remediate.connection.ssh import Endpoint, SSHConnection, SSHSettings
from remediate.errors import AuthenticationFailed, HostKeyRejected, Unreachable


class RefuseEveryLogin(paramiko.ServerInterface):
    def __init__(self):
        self.auth_attempts = 0

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        self.auth_attempts += 1
        return paramiko.AUTH_FAILED


@pytest.fixture
def server():
    """A one-connection SSH server; yields (port, host key, interface)."""
    host_key = paramiko.ECDSAKey.generate()
    interface = RefuseEveryLogin()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(10)
        try:
            conn, _ = listener.accept()
            transport = paramiko.Transport(conn)
            transport.add_server_key(host_key)
            transport.start_server(server=interface)
        except (OSError, EOFError, paramiko.SSHException):
            return  # the client hung up first: that is what several tests do
        stop.wait(10)
        transport.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], host_key, interface
    stop.set()
    listener.close()
    thread.join(5)


def endpoint(port: int, known_hosts, tmp_path, mode=None) -> Endpoint:
    key_file = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(key_file))
    return Endpoint(
        label="web1",
        host="127.0.0.1",
        port=port,
        user="root",
        key_files=[key_file],
        known_hosts=known_hosts,
        strict_host_key_checking=mode,
    )


def settings() -> SSHSettings:
    return SSHSettings(connect_timeout=2, use_agent=False)


def test_unknown_host_key_is_refused_before_any_credential(server, tmp_path):
    port, _, interface = server
    with pytest.raises(HostKeyRejected, match=f"unknown.*ssh-keyscan -p {port} 127.0.0.1"):
        SSHConnection(endpoint(port, [tmp_path / "known_hosts"], tmp_path), settings())
    assert interface.auth_attempts == 0


def test_changed_host_key_is_refused_even_with_accept_new(server, tmp_path):
    port, _, interface = server
    kh = tmp_path / "known_hosts"
    other = paramiko.ECDSAKey.generate()
    kh.write_text(f"[127.0.0.1]:{port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(HostKeyRejected, match="REMOTE HOST IDENTIFICATION HAS CHANGED"):
        SSHConnection(endpoint(port, [kh], tmp_path, "accept-new"), settings())
    assert interface.auth_attempts == 0


def test_accept_new_records_the_key_and_then_login_failure_is_authentication(server, tmp_path):
    port, host_key, interface = server
    kh = tmp_path / "known_hosts"
    with pytest.raises(AuthenticationFailed, match=r"root@127.0.0.1:.*refused every key offered"):
        SSHConnection(endpoint(port, [kh], tmp_path, "accept-new"), settings())
    assert kh.read_text() == f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n"
    assert interface.auth_attempts >= 1


def test_missing_key_file_is_reported_before_connecting(tmp_path):
    ep = Endpoint(label="web1", host="127.0.0.1", port=1, key_files=[tmp_path / "nope"])
    with pytest.raises(AuthenticationFailed, match="nope does not exist"):
        SSHConnection(ep, settings())


def test_refused_port_is_unreachable_at_once(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(Unreachable, match=f"web1: cannot connect to 127.0.0.1:{port}: connection refused"):
        SSHConnection(endpoint(port, [], tmp_path), settings())
    assert time.monotonic() - started < 2


def test_a_port_that_never_speaks_ssh_is_unreachable_within_the_timeout(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(Unreachable, match=f"no SSH service answered at 127.0.0.1:{port}"):
            SSHConnection(endpoint(port, [], tmp_path), SSHSettings(connect_timeout=1, use_agent=False))
        assert time.monotonic() - started < 5
