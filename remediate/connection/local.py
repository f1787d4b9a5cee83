"""The local connection: audit this machine with the same code path, without SSH or a shell."""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import selectors
import signal
import subprocess
import time

from remediate.connection.base import READ_CHUNK, CommandResult, Connection, Limits, OutputBudget
from remediate.connection.become import Become
from remediate.errors import ConnectionFailed

POLL = 1.0  # seconds between looks at `closed` while a command keeps its pipes open and quiet
KILL_GRACE = 5.0  # how long a killed command may take to be reaped


class LocalConnection(Connection):
    """argv goes straight to exec; sudo is used only when we are not already the become user."""

    def __init__(
        self,
        host_name: str = "localhost",
        become: Become | None = None,
        become_by_default: bool = False,
        limits: Limits | None = None,
    ):
        super().__init__(host_name, pwd.getpwuid(os.geteuid()).pw_name, become, become_by_default, limits)
        self._proc: subprocess.Popen | None = None

    def _exec(self, argv: list[str], stdin: bytes | None, timeout: float, budget: OutputBudget) -> CommandResult:
        deadline = time.monotonic() + timeout
        try:
            # A session of its own: on timeout the whole process group goes, not just the first child.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            return CommandResult(127, b"", f"{argv[0]}: command not found\n".encode())
        except PermissionError as exc:
            return CommandResult(126, b"", f"{argv[0]}: {exc.strerror}\n".encode())
        self._proc = proc
        self.phase = "the command's output and exit status"
        try:
            out, err = self._pump(proc, stdin or b"", deadline, budget)
            finished = budget.exceeded or (not self.closed and self._wait(proc, deadline))
        finally:
            if proc.returncode is None:
                _kill(proc)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            self._proc = None
        if self.closed:
            raise ConnectionFailed(f"{self.host_name}: the connection was closed during a command")
        if not finished:
            raise self._timed_out(timeout)
        rc = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return CommandResult(128 - rc if rc < 0 else rc, out, err)  # killed by signal N: 128+N, as sh reports

    def _pump(self, proc: subprocess.Popen, stdin: bytes, deadline: float, budget: OutputBudget) -> tuple[bytes, bytes]:
        """Feed stdin and read stdout and stderr until both end, the deadline passes, the output passes the
        budget (the command is killed) or the connection is closed."""
        if proc.stdout is None or proc.stderr is None:
            raise ValueError("the command's stdout and stderr must be pipes")
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        pending = memoryview(stdin)
        with selectors.DefaultSelector() as selector:
            for stream in (proc.stdout, proc.stderr):
                selector.register(stream, selectors.EVENT_READ)
            if proc.stdin is not None:
                if pending:
                    selector.register(proc.stdin, selectors.EVENT_WRITE)
                else:
                    proc.stdin.close()
            while selector.get_map() and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for key, _ in selector.select(min(left, POLL)):
                    if key.fileobj is proc.stdin:
                        try:
                            pending = pending[os.write(key.fd, pending[: select.PIPE_BUF]) :]
                        except BrokenPipeError:
                            pending = pending[:0]  # the command exited without reading everything
                        if not pending:
                            selector.unregister(proc.stdin)
                            proc.stdin.close()
                        continue
                    chunk = os.read(key.fd, READ_CHUNK)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif budget.take(chunk):
                        chunks[key.fd].append(chunk)
                    else:
                        _kill(proc)
                        return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])
        return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])

    @staticmethod
    def _wait(proc: subprocess.Popen, deadline: float) -> bool:
        """True when the command exited by the deadline."""
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def _close(self) -> None:
        proc = self._proc
        if proc is not None:
            _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the command's whole process group, and reap it if it goes within KILL_GRACE."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(KILL_GRACE)
