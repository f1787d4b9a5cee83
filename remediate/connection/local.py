"""The local connection: audit this machine with the same code path, without SSH."""

from __future__ import annotations

import getpass
import subprocess

from remediate.connection.base import Become, CommandResult, Connection
from remediate.errors import CommandFailed


class LocalConnection(Connection):
    def __init__(self, host_name: str = "localhost", become: Become | None = None):
        super().__init__(host_name, getpass.getuser(), become)

    def _exec(self, command: str, stdin: bytes | None, timeout: float | None) -> CommandResult:
        try:
            proc = subprocess.run(["/bin/sh", "-c", command], input=stdin or b"", capture_output=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(f"{self.host_name}: command timed out after {timeout}s") from exc
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
