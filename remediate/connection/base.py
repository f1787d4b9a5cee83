"""The connection contract: run an argv on a host, optionally through sudo.

Every remote command is an argv list turned into one shell word list by
`quote_command`; no inventory value is ever spliced into command text.
Transports only implement `_exec` (one round trip); become is layered on top
of it once, in remediate.connection.become, for every transport alike.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from remediate.connection.become import Become, Sudo
from remediate.errors import CommandFailed


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def text(self, stream: str = "stdout") -> str:
        """Decoded for display and parsing of text tools; the raw bytes stay available."""
        return getattr(self, stream).decode("utf-8", errors="replace")

    def check(self, what: str) -> CommandResult:
        """Return self, or raise CommandFailed naming `what` when the command failed."""
        if not self.ok:
            detail = self.text("stderr").strip()[-500:]
            raise CommandFailed(f"{what} failed (exit {self.rc})" + (f": {detail}" if detail else ""),
                                rc=self.rc, stderr=self.text("stderr"))
        return self


def checked_argv(argv: Sequence[str]) -> list[str]:
    """argv as a list, refusing what no exec can carry (empty argv, non-str words, NUL bytes)."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a sequence of words, not one string")
    words = list(argv)
    if not words:
        raise ValueError("empty command")
    for word in words:
        if not isinstance(word, str):
            raise TypeError(f"argv words must be str, got {type(word).__name__}: {word!r}")
        if "\0" in word:
            raise ValueError("argv words cannot contain NUL bytes")
    return words


def quote_command(argv: Sequence[str]) -> str:
    """One shell command line whose words are exactly argv, whatever characters they hold."""
    return " ".join(shlex.quote(word) for word in checked_argv(argv))


def script_argv(script: str, args: Sequence[str] = ()) -> list[str]:
    """Run a trusted sh script; untrusted values reach it only as positional parameters."""
    return ["sh", "-c", script, "remediate", *args]


class Connection(ABC):
    """One open connection to one host, reused for every command of a run.

    `round_trips` counts the commands started on the host (exec channels or
    subprocesses): the audit budget is measured in them.
    `become_by_default` mirrors the inventory's ansible_become for callers
    that follow it; `run(..., become=True)` escalates whatever it says.
    """

    host_name: str
    login_user: str
    become: Become

    def __init__(self, host_name: str, login_user: str, become: Become | None = None,
                 become_by_default: bool = False):
        self.host_name = host_name
        self.login_user = login_user
        self.become = become or Become()
        self.become_by_default = become_by_default
        self.round_trips = 0
        self._sudo = Sudo(host_name, self.become)

    @abstractmethod
    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float | None) -> CommandResult:
        """Run argv on the host as the login user: exactly one round trip."""

    def close(self) -> None:
        """Release the connection; safe to call twice."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host_name} user={self.login_user} become={self.become!r}>"

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, become: bool = False,
            timeout: float | None = None) -> CommandResult:
        """Run argv (never through a shell of ours); with become, as the become user via sudo."""
        words = checked_argv(argv)
        if become and self.become.user != self.login_user:
            return self._sudo.run(self._round_trip, words, stdin, timeout)
        return self._round_trip(words, stdin, timeout)

    def run_script(self, script: str, *, args: Sequence[str] = (), stdin: bytes | None = None,
                   become: bool = False, timeout: float | None = None) -> CommandResult:
        """Run a trusted POSIX sh script of ours; `args` become its $1, $2, ..."""
        return self.run(script_argv(script, args), stdin=stdin, become=become, timeout=timeout)

    def _round_trip(self, argv: list[str], stdin: bytes | None, timeout: float | None) -> CommandResult:
        self.round_trips += 1
        return self._exec(argv, stdin, timeout)
