"""Exceptions that carry a message meant for the operator.

Every error the tool expects (bad input, unreachable host, refused key) is a
RemediateError so the runner can record it against one host and carry on with
the rest of the fleet, and the CLI can print it without a traceback. Anything
else (a ValueError, a KeyError) is a bug and keeps its traceback.
"""


class RemediateError(Exception):
    """An expected failure with a message that tells the operator what to do."""


class UsageError(RemediateError):
    """A command-line option has a value the task cannot use (--fail-on, --run, --canary, --batch-size, --scale)."""


class InventoryError(RemediateError):
    """The inventory or a host pattern cannot be used as given."""


class ConnectionFailed(RemediateError):
    """A host could not be reached or logged into."""


class Unreachable(ConnectionFailed):
    """No TCP/SSH session could be established (timeout, refused, DNS)."""


class HostKeyRejected(ConnectionFailed):
    """The host key is unknown or does not match known_hosts."""


class AuthenticationFailed(ConnectionFailed):
    """The server refused every credential we offered."""


class BecomeFailed(RemediateError):
    """sudo refused: wrong password, no password given, or not allowed."""


class CommandFailed(RemediateError):
    """A remote command exited non-zero where success was required."""

    def __init__(self, message: str, rc: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.rc = rc
        self.stderr = stderr


class CommandTimeout(CommandFailed):
    """A command ran past its deadline and was stopped."""


class OutputTooLarge(CommandFailed):
    """A host sent more output than the controller accepts (per command or per connection); reading stopped."""


class BatchOutputError(CommandFailed):
    """A batch's framed output was cut short or garbled; no partial result is returned."""


class LabError(RemediateError):
    """The lab fleet could not be built, booted or torn down."""


class PolicyError(RemediateError):
    """A policy profile, override or waiver is malformed."""
