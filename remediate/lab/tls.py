"""Certificates for a lab host's TLS listener, made on the controller at each boot.

Private keys are never committed and the lab image has no openssl: the
controller's openssl makes a throwaway CA, a server certificate for
localhost/127.0.0.1 and a client certificate, all valid for a few days.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from remediate.errors import LabError

OPENSSL = "/usr/bin/openssl"
DAYS = "30"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(workdir: Path, *args: str) -> None:
    done = subprocess.run([OPENSSL, *args], cwd=workdir, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise LabError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")


def _signed(workdir: Path, name: str, usage: str, extra: str = "") -> None:
    """name-key.pem and name-cert.pem, signed by ca-key.pem, for `usage` (serverAuth or clientAuth)."""
    ext = workdir / f"{name}.ext"
    ext.write_text(f"extendedKeyUsage={usage}\n{extra}")
    _openssl(
        workdir,
        "req",
        *EC_KEY,
        "-keyout",
        f"{name}-key.pem",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN=remediate-lab-{name}",
    )
    _openssl(
        workdir,
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        DAYS,
        "-out",
        f"{name}-cert.pem",
        "-extfile",
        ext.name,
    )


def generate(server_dir: str, client_dir: str) -> list[tuple[str, bytes, int]]:
    """(path on the host, content, mode): CA and server certificate 0444 and server key 0400 in server_dir
    (dockerd's tlscacert/tlscert/tlskey), and the client's ca.pem, cert.pem and key.pem in client_dir."""
    with tempfile.TemporaryDirectory(prefix="remediate-lab-tls-") as tmp:
        work = Path(tmp)
        _openssl(
            work,
            "req",
            "-x509",
            *EC_KEY,
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            DAYS,
            "-subj",
            "/CN=remediate-lab-ca",
        )
        _signed(work, "server", "serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        _signed(work, "client", "clientAuth")
        read = lambda name: (work / name).read_bytes()  # noqa: E731
        return [
            (f"{server_dir}/ca.pem", read("ca.pem"), 0o444),
            (f"{server_dir}/server-cert.pem", read("server-cert.pem"), 0o444),
            (f"{server_dir}/server-key.pem", read("server-key.pem"), 0o400),
            (f"{client_dir}/ca.pem", read("ca.pem"), 0o444),
            (f"{client_dir}/cert.pem", read("client-cert.pem"), 0o444),
            (f"{client_dir}/key.pem", read("client-key.pem"), 0o400),
        ]
