"""The connection contract: run an argv on a host, optionally through sudo.

Every remote command is an argv list turned into one shell word list by
`quote_command`; no inventory value is ever spliced into command text.
Become (sudo) is handled here once for every transport: the password goes on
stdin, and a random marker printed by the wrapped shell proves sudo let the
command run, so sudo's own failure is never mistaken for the command's.
"""

from __future__ import annotations

import secrets
import shlex
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from remediate.errors import BecomeFailed


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: bytes
    stderr: bytes

    def text(self, stream: str = "stdout") -> str:
        return getattr(self, stream).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Become:
    """Who to become and how. `password` is never part of repr() or any message."""

    user: str = "root"
    password: str | None = None

    def __repr__(self) -> str:
        return f"Become(user={self.user!r}, password={'***' if self.password else None})"


def quote_command(argv: Sequence[str]) -> str:
    """One shell command line whose words are exactly argv, whatever bytes they hold."""
    if not argv:
        raise ValueError("empty command")
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def script_argv(script: str, args: Sequence[str] = ()) -> list[str]:
    """Run a trusted sh script; untrusted values reach it only as positional parameters."""
    return ["sh", "-c", script, "remediate", *args]


_SUDO_REASONS = (
    ("incorrect password", "incorrect sudo password"),
    ("password was provided", "incorrect sudo password"),
    ("a password is required", "sudo requires a password but none is configured (set ansible_become_password)"),
    ("a terminal is required", "sudo requires a password but none is configured (set ansible_become_password)"),
    ("not in the sudoers", "the login user may not use sudo"),
    ("is not allowed to", "sudo refused this command for the login user"),
    ("unknown user", "the become user does not exist"),
    ("command not found", "sudo is not installed"),
)


class Connection(ABC):
    """One open connection to one host, reused for every command of a run."""

    host_name: str
    login_user: str
    become: Become | None

    def __init__(self, host_name: str, login_user: str, become: Become | None):
        self.host_name = host_name
        self.login_user = login_user
        self.become = become
        self.round_trips = 0
        self._become_verified = False

    @abstractmethod
    def _exec(self, command: str, stdin: bytes | None, timeout: float | None) -> CommandResult:
        """Run one shell command line on the host (one round trip)."""

    def close(self) -> None:
        """Release the connection; further calls fail."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host_name} user={self.login_user} become={self.become!r}>"

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, become: bool = False,
            timeout: float | None = None) -> CommandResult:
        if not (become and self._needs_sudo()):
            self.round_trips += 1
            return self._exec(quote_command(argv), stdin, timeout)
        assert self.become is not None
        if self.become.password and stdin and not self._become_verified:
            # Verify first: with data on stdin, a wrong password would make sudo
            # read our data as its next password attempt.
            self.run(["true"], become=True, timeout=timeout)
        marker = "remediate-become-" + secrets.token_hex(8)
        wrapped = self._sudo_argv(marker, argv)
        prefix = (self.become.password + "\n").encode() if self.become.password else b""
        self.round_trips += 1
        result = self._exec(quote_command(wrapped), prefix + (stdin or b""), timeout)
        head = (marker + "\n").encode()
        if not result.stdout.startswith(head):
            raise BecomeFailed(f"{self.host_name}: sudo to {self.become.user} failed: {self._sudo_reason(result)}")
        self._become_verified = True
        return CommandResult(result.rc, result.stdout[len(head):], self._scrub(result.stderr))

    def run_script(self, script: str, *, args: Sequence[str] = (), stdin: bytes | None = None,
                   become: bool = False, timeout: float | None = None) -> CommandResult:
        return self.run(script_argv(script, args), stdin=stdin, become=become, timeout=timeout)

    def _needs_sudo(self) -> bool:
        return self.become is not None and not (self.login_user == "root" and self.become.user == "root")

    def _sudo_argv(self, marker: str, argv: Sequence[str]) -> list[str]:
        assert self.become is not None
        mode = ["-S", "-p", ""] if self.become.password else ["-n"]
        return ["sudo", *mode, "-u", self.become.user, "--", "sh", "-c", 'echo "$0"; exec "$@"', marker, *argv]

    def _sudo_reason(self, result: CommandResult) -> str:
        err = self._scrub(result.stderr).decode(errors="replace").strip()
        lowered = err.lower()
        for needle, reason in _SUDO_REASONS:
            if needle in lowered:
                return reason
        return err.splitlines()[-1] if err else f"exit {result.rc} without running the command"

    def _scrub(self, data: bytes) -> bytes:
        if self.become and self.become.password:
            return data.replace(self.become.password.encode(), b"***")
        return data
