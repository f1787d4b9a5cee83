"""The address grammars of dockerd's -H/hosts and of systemd's ListenStream=.

dockerd (opts/hosts.go parseDaemonHost, ParseTCPAddr): "tcp://HOST:PORT",
"HOST:PORT" without a scheme is TCP too, an empty host is "localhost" and an
empty port 2375; "unix://PATH" (empty: /var/run/docker.sock); "fd://" takes the
sockets systemd passes (docker.socket). systemd (systemd.socket(5)): a path
is a unix socket, a bare port listens on every address (IPv4 and IPv6),
"ADDR:PORT" or "[ADDR6]:PORT" on one address.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_TCP_HOST = "localhost"
DEFAULT_TCP_PORT = 2375
DEFAULT_UNIX_SOCKET = "/var/run/docker.sock"
ALL_INTERFACES = "*"


@dataclass(frozen=True)
class ListenAddress:
    """One address dockerd listens on: a -H/hosts value or a docker.socket ListenStream=."""

    proto: str  # tcp, unix, fd, npipe, vsock
    address: str  # host for tcp (ALL_INTERFACES for every address), path for unix
    port: int | None = None

    @property
    def all_interfaces(self) -> bool:
        return self.address in (ALL_INTERFACES, "0.0.0.0", "::")

    @property
    def loopback(self) -> bool:
        if self.address == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False


class HostError(ValueError):
    """dockerd refuses the address."""


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort; None where it fails."""
    if hostport.startswith("["):
        match = re.fullmatch(r"\[([^\]]*)\]:([^:]*)", hostport)
        return (match.group(1), match.group(2)) if match else None
    if hostport.count(":") != 1:
        return None
    host, port = hostport.split(":")
    return host, port


def _url_host_error(hostport: str) -> str | None:
    """What Go's url.Parse says about the host part of "tcp://" + addr, if it refuses it."""
    host = hostport.rpartition("@")[2]
    if not host.startswith("["):
        colon = host.rfind(":")
        if colon >= 0 and not re.fullmatch(r":[0-9]*", host[colon:]):
            return f"invalid port {host[colon:]!r} after host"
    bad = re.search(r"[^A-Za-z0-9\-._~!$&'()*+,;=:\[\]%]", host)
    return f"invalid character {bad.group()!r} in host name" if bad else None


def _tcp(addr: str, original: str) -> ListenAddress:
    if "://" in addr or addr == "":
        raise HostError(f"Invalid proto, expected tcp: {addr}")
    hostport = re.split(r"[/?#]", addr, maxsplit=1)[0]
    url_error = _url_host_error(hostport)
    if url_error:
        raise HostError(f"tcp://{addr}: {url_error}")
    if hostport.endswith("]:"):
        hostport += str(DEFAULT_TCP_PORT)
    parts = _split_host_port(hostport)
    if parts is None:
        bracketed = f"[{hostport}]" if ":" in hostport else hostport
        parts = _split_host_port(f"{bracketed}:{DEFAULT_TCP_PORT}")
    if parts is None:
        raise HostError(f"Invalid bind address format: {original}")
    host, port = parts
    if port and not port.isdigit():
        raise HostError(f"Invalid bind address format: {original}")
    return ListenAddress("tcp", host or DEFAULT_TCP_HOST, int(port or DEFAULT_TCP_PORT))


def parse_daemon_host(text: str) -> ListenAddress:
    """An -H value or a `hosts` entry as dockerd parses it; raises HostError like dockerd."""
    host = text.strip()
    if not host:
        return ListenAddress("unix", DEFAULT_UNIX_SOCKET)
    proto, sep, addr = host.partition("://")
    if not sep:
        proto, addr = "tcp", host
    if proto == "tcp":
        return _tcp(addr, addr)
    if proto in ("unix", "npipe"):
        if "://" in addr:
            raise HostError(f"Invalid proto, expected {proto}: {addr}")
        return ListenAddress(proto, addr or DEFAULT_UNIX_SOCKET)
    if proto == "fd":
        return ListenAddress("fd", addr)
    raise HostError(f"Invalid bind address format: {host}")


def parse_listen_stream(text: str) -> ListenAddress | None:
    """A ListenStream= value; None when systemd would not accept it either."""
    value = text.strip()
    if value.startswith(("/", "@")):
        return ListenAddress("unix", value)
    if value.startswith("vsock:"):
        return ListenAddress("vsock", value[6:])
    if value.isdigit():
        return ListenAddress("tcp", ALL_INTERFACES, int(value))
    parts = _split_host_port(value)
    if parts is None or not parts[1].isdigit():
        return None
    host = parts[0].split("%")[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return ListenAddress("tcp", host, int(parts[1]))
