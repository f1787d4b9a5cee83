"""The connection contract: run an argv on a host, optionally through sudo.

Every remote command is an argv list turned into one shell word list by
`quote_command`; no inventory value is ever spliced into command text.
Transports only implement `_exec` (one round trip); become is layered on top
of it once, in remediate.connection.become, for every transport alike.

A host is never trusted to end a command or to stop talking: every round trip
has a deadline (COMMAND_TIMEOUT unless the caller gives one, so no call waits
forever), and the controller keeps at most MAX_COMMAND_OUTPUT bytes of one
command's stdout and stderr together and MAX_HOST_OUTPUT over a connection;
past either, the transport stops reading and ends the command, and `run`
raises OutputTooLarge. The runner adds a deadline for a host's whole work
(HOST_TIMEOUT) and names what it was waiting for from `activity()`.
"""

from __future__ import annotations

import shlex
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from remediate.connection.become import Become, Sudo
from remediate.errors import CommandFailed, CommandTimeout, ConnectionFailed, OutputTooLarge

MiB = 1024 * 1024
COMMAND_TIMEOUT = 120.0  # seconds, for a command whose caller names no deadline
# A host's whole work. The longest legitimate one is an apply whose commit and then restore each wait their
# full 4 * restart_timeout + 60 s (420 s each with the default 90 s), plus gathering twice and the short steps.
HOST_TIMEOUT = 1200.0
# Output the controller keeps. A gather batch of a normal host is well under 1 MiB; one oversized file costs
# READ_LIMIT (8 MiB), so even three of them fit in a command. A gather reads twice, a plan validates once more.
MAX_COMMAND_OUTPUT = 32 * MiB  # stdout and stderr of one command, together
MAX_HOST_OUTPUT = 64 * MiB  # every command of one connection
READ_CHUNK = 65536  # bytes a transport reads at once


@dataclass(frozen=True)
class Limits:
    """What the controller grants one host: deadlines, and how much of its output it keeps."""

    command_timeout: float = COMMAND_TIMEOUT
    host_timeout: float = HOST_TIMEOUT  # enforced by the runner's per-host watchdog
    command_output: int = MAX_COMMAND_OUTPUT
    host_output: int = MAX_HOST_OUTPUT


def size_text(n: int) -> str:
    for unit, name in ((MiB, "MiB"), (1024, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} bytes"


class OutputBudget:
    """The bytes one command may send back, stdout and stderr together; the readers of both streams share it.

    A chunk that would pass the limit is refused whole, so a transport never holds more than `limit` bytes."""

    def __init__(self, limit: int):
        self.limit = max(0, limit)
        self.received = 0
        self.exceeded = False
        self._lock = threading.Lock()

    def take(self, chunk: bytes) -> bool:
        """Count chunk in; False once it would pass the limit (the caller then stops reading and drops it)."""
        with self._lock:
            if self.exceeded or self.received + len(chunk) > self.limit:
                self.exceeded = True
                return False
            self.received += len(chunk)
            return True


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
            raise CommandFailed(
                f"{what} failed (exit {self.rc})" + (f": {detail}" if detail else ""),
                rc=self.rc,
                stderr=self.text("stderr"),
            )
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


def describe(argv: Sequence[str], width: int = 160) -> str:
    """A command as an operator recognises it in a message: script bodies left out, cut at `width`."""
    text = " ".join("<script>" if "\n" in word or len(word) > 80 else shlex.quote(word) for word in argv)
    return text if len(text) <= width else text[: width - 1] + "…"


def script_argv(script: str, args: Sequence[str] = ()) -> list[str]:
    """Run a trusted sh script; untrusted values reach it only as positional parameters."""
    return ["sh", "-c", script, "remediate", *args]


class Connection(ABC):
    """One open connection to one host, reused for every command of a run.

    `round_trips` counts the commands started on the host (exec channels or
    subprocesses): the audit budget is measured in them.
    `become_by_default` mirrors the inventory's ansible_become for callers
    that follow it; `run(..., become=True)` escalates whatever it says.
    `close()` may come from another thread (the runner's watchdog): it ends
    the command in flight, and every later `run` fails at once.
    """

    host_name: str
    login_user: str
    become: Become

    def __init__(
        self,
        host_name: str,
        login_user: str,
        become: Become | None = None,
        become_by_default: bool = False,
        limits: Limits | None = None,
    ):
        self.host_name = host_name
        self.login_user = login_user
        self.become = become or Become()
        self.become_by_default = become_by_default
        self.limits = limits or Limits()
        self.round_trips = 0
        self.output_received = 0  # bytes kept from every command so far, against limits.host_output
        self.closed = False
        self._closing = threading.Lock()
        self.phase = ""  # what the transport waits for in the round trip in flight; set by _exec
        self._running: tuple[str, float] | None = None  # the command in flight: (description, started)
        self._last = ""
        self._sudo = Sudo(host_name, self.become)

    @abstractmethod
    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float, budget: OutputBudget) -> CommandResult:
        """Run argv on the host as the login user: exactly one round trip, ended within `timeout` seconds.

        Output past `budget` is not read: the transport ends the command and returns; `run` raises."""

    def close(self) -> None:
        """Release the connection and end any command in flight; safe to call twice, from any thread."""
        with self._closing:
            if self.closed:
                return
            self.closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027 — a transport with nothing of its own to close keeps this no-op
        """The transport's part of close()."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host_name} user={self.login_user} become={self.become!r}>"

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, become: bool = False, timeout: float | None = None
    ) -> CommandResult:
        """Run argv (never through a shell of ours); with become, as the become user via sudo.

        `timeout` None means the connection's default deadline (limits.command_timeout), never "forever"."""
        words = checked_argv(argv)
        deadline = self.limits.command_timeout if timeout is None else timeout
        self._running = (describe(words), time.monotonic())
        self._last = self._running[0]
        try:
            if become and self.become.user != self.login_user:
                return self._sudo.run(self._round_trip, words, stdin, deadline)
            return self._round_trip(words, stdin, deadline)
        finally:
            self._running = None
            self.phase = ""

    def run_script(
        self,
        script: str,
        *,
        args: Sequence[str] = (),
        stdin: bytes | None = None,
        become: bool = False,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a trusted POSIX sh script of ours; `args` become its $1, $2, ..."""
        return self.run(script_argv(script, args), stdin=stdin, become=become, timeout=timeout)

    def activity(self) -> str:
        """What the host is being waited for right now, in words for an operator."""
        running = self._running
        if running is None:
            return "the controller, between commands" + (f" (the last one: {self._last})" if self._last else "")
        what, started = running
        phase = f"{self.phase}, " if self.phase else ""
        return f"{what} ({phase}running for {time.monotonic() - started:.0f}s)"

    def _round_trip(self, argv: list[str], stdin: bytes | None, timeout: float) -> CommandResult:
        if self.closed:
            raise ConnectionFailed(f"{self.host_name}: the connection is closed")
        self.round_trips += 1
        host_left = self.limits.host_output - self.output_received
        budget = OutputBudget(min(self.limits.command_output, host_left))
        try:
            result = self._exec(argv, stdin, timeout, budget)
        finally:
            self.output_received += budget.received
        if budget.exceeded:
            raise self._too_large(per_host=host_left < self.limits.command_output)
        return result

    def _too_large(self, *, per_host: bool) -> OutputTooLarge:
        if per_host:
            self.output_received = self.limits.host_output  # nothing more from this host
            what = f"{size_text(self.limits.host_output)} of output over this connection"
        else:
            what = f"{size_text(self.limits.command_output)} of output for one command"
        return OutputTooLarge(f"{self.host_name}: sent more than {what}; stopped reading (command: {self._last})")

    def _timed_out(self, timeout: float) -> CommandTimeout:
        waiting = f" waiting for {self.phase}" if self.phase else ""
        return CommandTimeout(f"{self.host_name}: {self._last} timed out after {timeout:g}s{waiting}")
