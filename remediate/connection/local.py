"""The local connection: audit this machine with the same code path, without SSH or a shell."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess

from remediate.connection.base import CommandResult, Connection
from remediate.connection.become import Become
from remediate.errors import CommandTimeout


class LocalConnection(Connection):
    """argv goes straight to exec; sudo is used only when we are not already the become user."""

    def __init__(self, host_name: str = "localhost", become: Become | None = None,
                 become_by_default: bool = False):
        super().__init__(host_name, pwd.getpwuid(os.geteuid()).pw_name, become, become_by_default)

    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float | None) -> CommandResult:
        try:
            # A session of its own: on timeout the whole process group goes, not just the first child.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            return CommandResult(127, b"", f"{argv[0]}: command not found\n".encode())
        except PermissionError as exc:
            return CommandResult(126, b"", f"{argv[0]}: {exc.strerror}\n".encode())
        with proc:
            try:
                out, err = proc.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.communicate()
                raise CommandTimeout(f"{self.host_name}: {argv[0]} timed out after {timeout:g}s") from None
        rc = proc.returncode
        return CommandResult(128 - rc if rc < 0 else rc, out, err)  # killed by signal N: 128+N, as sh reports
