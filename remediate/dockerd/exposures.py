"""Every TCP endpoint of the Docker API, from all the places that can open one, and its TLS.

Four sources: `hosts` in daemon.json, -H in ExecStart, -H in a variable the
unit expands ($DOCKER_OPTS from /etc/default/docker, Environment=), and
docker.socket's ListenStream= — served through `-H fd://`, with no TLS unless
dockerd has TLS on (it wraps every listener, systemd's included).

TLS (cmd/dockerd/daemon.go, options.go): any `tlsverify` — flag, key (even
false) or DOCKER_TLS_VERIFY in the environment — turns TLS on; clients must
present a certificate the CA verifies unless tlsverify is explicitly false:
with `tls` on and no tlsverify at all, dockerd sets TLSVerify = TLS
(loadDaemonCliConfig, 20.10 to 28.x). The CA defaults to
$DOCKER_CERT_PATH/ca.pem or ~/.docker/ca.pem only when TLS is on through a
flag; with TLS only in daemon.json and no tlscacert, client certificates are
checked against the system roots: any public CA can issue one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .daemon_json import DaemonJson
from .flags import Flag
from .hosts import DEFAULT_UNIX_SOCKET, HostError, ListenAddress, parse_daemon_host, parse_listen_stream
from .problems import Source, to_jsonable
from .setting import Setting

ROOT_CERT_DIR = "/root/.docker"
# dockerd's flag defaults for the TLS files, in $DOCKER_CERT_PATH or ~/.docker (cmd/dockerd/options.go).
DEFAULT_TLS_FILES = {"tlscacert": "ca.pem", "tlscert": "cert.pem", "tlskey": "key.pem"}


@dataclass(frozen=True)
class TlsState:
    enabled: bool
    verify: bool
    source: Source | None  # where TLS was turned on
    ca: str | None  # CA file client certificates must chain to; None: the system roots
    notes: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()  # (tlscacert/tlscert/tlskey, path) dockerd loads, defaults included

    @property
    def mode(self) -> str:
        """none, tls (encrypted, any client accepted) or tlsverify (client certificate required)."""
        return "tlsverify" if self.enabled and self.verify else ("tls" if self.enabled else "none")

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "enabled": self.enabled,
            "verify": self.verify,
            "source": to_jsonable(self.source),
            "ca": self.ca,
            "notes": list(self.notes),
            "files": dict(self.files),
        }


def tls_state(settings: dict[str, Setting], cert_dir: str | None) -> TlsState:
    tls, verify = settings["tls"], settings["tlsverify"]
    enabled = tls.value is True
    if not enabled:
        return TlsState(False, False, None, None, ())
    from_flags = "flag" in (tls.origin, verify.origin) or "environment" in (tls.origin, verify.origin)
    files = {}
    for key, name in DEFAULT_TLS_FILES.items():
        setting = settings.get(key)
        if setting and setting.value:
            files[key] = setting.value
        elif from_flags:
            files[key] = f"{cert_dir or ROOT_CERT_DIR}/{name}"
    ca = files.get("tlscacert")
    notes: list[str] = []
    verified = verify.value is True or verify.origin == "default"
    if not verified:
        notes.append("TLS without client verification (tlsverify is false): any client is accepted")
    elif ca is None:
        notes.append("tlsverify without tlscacert: dockerd accepts any client certificate a public CA signed")
    return TlsState(True, verified, tls.source, ca, tuple(notes), tuple(files.items()))


def _run_path(path: str) -> str:
    """/var/run is a link to /run on every systemd host: one socket, one name."""
    return "/run/" + path[len("/var/run/") :] if path.startswith("/var/run/") else path


def api_socket_paths(host_flags: list[Flag], doc: DaemonJson, listen: list[str]) -> tuple[str, ...]:
    """Every unix socket of the Docker API: docker.socket's ListenStream paths and the unix:// hosts dockerd
    is given (-H, daemon.json hosts; none at all: its default /var/run/docker.sock)."""
    file_hosts = doc.values.get("hosts") if doc.values else None
    hosts = [f.value for f in host_flags] + (list(file_hosts) if isinstance(file_hosts, list) else [])
    paths = [p for p in listen if p.startswith("/")]
    if not hosts:
        paths.append(DEFAULT_UNIX_SOCKET)
    for text in hosts:
        endpoint = _endpoint(text)
        if endpoint and endpoint.proto == "unix" and endpoint.address.startswith("/"):
            paths.append(endpoint.address)
    return tuple(sorted({_run_path(p) for p in paths}))


@dataclass(frozen=True)
class TcpExposure:
    address: str
    port: int
    written: str  # the value as configured ("tcp://0.0.0.0:2375", "2375")
    origin: str  # "daemon.json hosts", "-H flag" or "docker.socket ListenStream"
    source: Source
    tls: str  # none, tls or tlsverify
    all_interfaces: bool
    loopback: bool
    served: bool  # dockerd answers there (a ListenStream socket needs -H fd://)
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        return {k: to_jsonable(v) for k, v in self.__dict__.items()}


def _endpoint(text) -> ListenAddress | None:
    try:
        return parse_daemon_host(text) if isinstance(text, str) else None
    except HostError:
        return None


def tcp_exposures(
    host_flags: list[Flag], doc: DaemonJson, listen: list[str], listen_source: str, tls: TlsState
) -> list[TcpExposure]:
    file_hosts = doc.values.get("hosts") if doc.values else None
    hosts = [(f.value, f.source, "-H flag") for f in host_flags]
    if isinstance(file_hosts, list):
        hosts += [
            (h, doc.source("hosts", i) if doc.line_of("hosts", i) else doc.source("hosts"), "daemon.json hosts")
            for i, h in enumerate(file_hosts)
        ]
    parsed = [(_endpoint(text), text, source, origin) for text, source, origin in hosts]
    serves_fd = any(e and e.proto == "fd" for e, *_ in parsed)
    sockets = [
        (parse_listen_stream(text), text, Source(listen_source, via="ListenStream"), "docker.socket ListenStream")
        for text in listen
    ]

    exposures = []
    for endpoint, text, source, origin in parsed + sockets:
        if endpoint is None or endpoint.proto != "tcp" or endpoint.port is None:  # a tcp Endpoint has its port
            continue
        served = origin != "docker.socket ListenStream" or serves_fd
        notes = list(tls.notes)
        if tls.mode == "none":
            notes.append("no TLS: whoever reaches this port controls dockerd, i.e. root on the host")
        if not served:
            notes.append("dockerd does not take systemd's sockets (no -H fd://), yet systemd keeps this port open")
        exposures.append(
            TcpExposure(
                address=endpoint.address,
                port=endpoint.port,
                written=text,
                origin=origin,
                source=source,
                tls=tls.mode,
                all_interfaces=endpoint.all_interfaces,
                loopback=endpoint.loopback,
                served=served,
                notes=tuple(notes),
            )
        )
    return exposures
