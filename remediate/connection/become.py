"""sudo for every transport: the password only on stdin, success proven by a marker.

The wrapped shell prints a random marker before it execs the real command, so
"sudo let us in" is read from our own output, never guessed from prompts or
exit codes, and sudo's failures are never mistaken for the command's.

A password line must never reach the command: when a password is configured,
sudo runs with -k (ignore cached credentials, so it always reads exactly one
line when it needs a password); a call without data of ours gives the command
/dev/null, and before the first call that sends data we learn once, on this
connection, whether sudo consumes the line and whether the password is right,
so a wrong password can never make sudo read our data as another attempt.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from remediate.errors import BecomeFailed

Exec = Callable[[list[str], bytes | None, float], Any]


@dataclass(frozen=True)
class Become:
    """Who to become and how. `password` is never part of repr() or any message."""

    user: str = "root"
    password: str | None = None

    def __repr__(self) -> str:
        return f"Become(user={self.user!r}, password={'***' if self.password else None})"


_NO_PASSWORD = "sudo requires a password but none was configured (set ansible_become_password or use --ask-become-pass)"
_REASONS = (
    ("incorrect password", "incorrect sudo password"),
    ("sorry, try again", "incorrect sudo password"),
    ("no password was provided", "incorrect sudo password"),
    ("a password is required", _NO_PASSWORD),
    ("a terminal is required", _NO_PASSWORD),
    ("must have a tty", "sudo requires a tty (Defaults requiretty); remediate runs commands without one"),
    ("not in the sudoers", "the login user may not use sudo (not in sudoers)"),
    ("is not allowed to", "sudoers does not allow the login user to run a shell as the become user"),
    ("unknown user", "the become user does not exist"),
)


class Sudo:
    """Runs argvs through sudo on one connection, remembering what it learned about sudo there."""

    def __init__(self, host_name: str, become: Become):
        self._host = host_name
        self._become = become
        self._needs_password: bool | None = None

    def run(self, exec_: Exec, argv: list[str], stdin: bytes | None, timeout: float):
        password = self._become.password
        if password is not None and ("\n" in password or "\r" in password):
            raise BecomeFailed(f"{self._host}: the become password contains a line break; sudo -S cannot read it")
        if password is not None and self._needs_password is None and stdin is not None:
            self._probe(exec_, password, timeout)
        if self._needs_password is False:
            password = None
        return self._attempt(exec_, argv, stdin, timeout, password)

    def _attempt(self, exec_: Exec, argv: list[str], stdin: bytes | None, timeout: float, password: str | None):
        marker = secrets.token_hex(16)
        tail = 'exec "$@"' if stdin is not None else 'exec "$@" </dev/null'
        result = exec_(
            self._sudo_argv(password, f"printf %s {marker}; {tail}", ["sh", *argv]),
            self._feed(password, stdin),
            timeout,
        )
        return self._unwrap(result, marker)

    def _probe(self, exec_: Exec, password: str, timeout: float) -> None:
        """One round trip: is the password right, and does sudo read it at all (NOPASSWD)?"""
        marker = secrets.token_hex(16)
        script = f"printf %s {marker}; if IFS= read -r line; then printf unread; fi"
        result = self._unwrap(exec_(self._sudo_argv(password, script, []), self._feed(password, None), timeout), marker)
        self._needs_password = result.stdout != b"unread"

    def _sudo_argv(self, password: str | None, script: str, args: list[str]) -> list[str]:
        flags = ["-k", "-S", "-p", ""] if password is not None else ["-n"]
        return ["sudo", *flags, "-u", self._become.user, "--", "sh", "-c", script, *args]

    @staticmethod
    def _feed(password: str | None, stdin: bytes | None) -> bytes | None:
        if password is None:
            return stdin
        return (password + "\n").encode() + (stdin or b"")

    def _unwrap(self, result, marker: str):
        # Text before the marker is login-shell noise (a chatty .bashrc); text after it is the command's.
        pos = result.stdout.find(marker.encode())
        if pos < 0:
            raise BecomeFailed(f"{self._host}: sudo to {self._become.user} failed: {self._reason(result)}")
        return dataclasses.replace(result, stdout=result.stdout[pos + len(marker) :], stderr=self.scrub(result.stderr))

    def _reason(self, result) -> str:
        err = self.scrub(result.stderr).decode(errors="replace").strip()
        if result.rc == 127:
            return f"sudo is not installed on the host ({err.splitlines()[-1] if err else 'exit 127'})"
        lowered = err.lower()
        for needle, reason in _REASONS:
            if needle in lowered:
                return reason
        return err.splitlines()[-1] if err else f"exit {result.rc} without running the command"

    def scrub(self, data: bytes) -> bytes:
        """data with the password blanked out, should any tool ever echo it."""
        if self._become.password:
            return data.replace(self._become.password.encode(), b"***")
        return data
