"""Many reads and commands in ONE round trip, with output framed so any bytes survive.

The batch is a single POSIX sh script (no bash, no Python on the target).
Each step writes its metadata, stdout and stderr to files in a private temp
directory, then the script prints a header with the three byte lengths and the
bytes themselves. The parser reads by length, never by searching for a
delimiter, so binary content, NULs or a file that contains our marker cannot
confuse it. Every host-supplied value (paths, argv) reaches the script as a
positional parameter, never as script text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from remediate.connection.base import Connection
from remediate.errors import CommandFailed

MARKER = b"@@remediate-batch@@"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Larger files are read up to this size and flagged truncated (a daemon.json of MBs is a finding, not data).
READ_LIMIT = 8 * 1024 * 1024

_PROLOGUE = f"""\
PATH={PATH}:$PATH; export PATH; LC_ALL=C; export LC_ALL
umask 077
d=$(mktemp -d 2>/dev/null || mktemp -d -p /dev/shm 2>/dev/null) || {{ echo "remediate: no writable temp directory" >&2; exit 111; }}
trap 'rm -rf "$d"' EXIT HUP INT TERM
emit() {{
    printf '{MARKER.decode()} %s %s %s %s %s\\n' "$1" "$2" $(wc -c <"$d/m") $(wc -c <"$d/o") $(wc -c <"$d/e")
    cat "$d/m" "$d/o" "$d/e"
}}
readfile() {{
    f=$1
    if [ -L "$f" ]; then k=symlink; elif [ -d "$f" ]; then k=dir; elif [ -f "$f" ]; then k=file
    elif [ -S "$f" ]; then k=socket; elif [ -e "$f" ]; then k=other; else k=missing; fi
    printf 'kind=%s\\n' "$k"
    [ "$k" = missing ] && return 0
    [ "$k" = symlink ] && printf 'link=%s\\n' "$(readlink -- "$f")"
    stat -L -c 'mode=%a uid=%u gid=%g owner=%U group=%G size=%s' -- "$f" 2>/dev/null
    if [ -f "$f" ]; then head -c {READ_LIMIT + 1} -- "$f" >"$d/o"; fi
}}
"""


@dataclass(frozen=True)
class StepResult:
    rc: int
    stdout: bytes
    stderr: bytes
    meta: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class _Step:
    key: str
    kind: str  # command | read | shell
    body: str  # the script fragment that produces the step's output
    args: tuple[str, ...]


class Batch:
    """Build one script from steps; parse its framed output back into per-step results."""

    def __init__(self) -> None:
        self._steps: list[_Step] = []
        self._nargs = 0

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self._steps]

    def _params(self, values: Sequence[str]) -> list[str]:
        refs = [f'"${{{self._nargs + i + 1}}}"' for i in range(len(values))]
        self._nargs += len(values)
        return refs

    def _add(self, key: str, kind: str, body: str, args: Sequence[str]) -> None:
        if key in self.keys:
            raise ValueError(f"duplicate batch step {key!r}")
        self._steps.append(_Step(key, kind, body, tuple(args)))

    def add_command(self, key: str, argv: Sequence[str]) -> None:
        """Run argv (every word passed as a positional parameter)."""
        refs = self._params(argv)
        self._add(key, "command", " ".join(refs), argv)

    def add_read(self, key: str, path: str) -> None:
        """Read a path: kind, mode, owner, size, symlink target, and the bytes of a regular file."""
        (ref,) = self._params([path])
        self._add(key, "read", f"readfile {ref} >\"$d/m\"", [path])

    def add_shell(self, key: str, snippet: str, env: dict[str, str] | None = None) -> None:
        """A trusted snippet of our own; values it needs come in as env vars passed as parameters."""
        assigns = []
        for name, value in (env or {}).items():
            (ref,) = self._params([value])
            assigns.append(f"{name}={ref}; export {name};")
        self._add(key, "shell", " ".join(assigns) + f" ( {snippet}\n)", list((env or {}).values()))

    def script(self) -> tuple[str, list[str]]:
        parts = [_PROLOGUE]
        args: list[str] = []
        for index, step in enumerate(self._steps):
            args.extend(step.args)
            if step.kind == "read":
                parts.append(f': >"$d/m"; : >"$d/o"; : >"$d/e"; {step.body} 2>"$d/e"; emit {index} $?')
            else:
                parts.append(f': >"$d/m"; {{ {step.body}\n}} </dev/null >"$d/o" 2>"$d/e"; emit {index} $?')
        return "\n".join(parts) + "\n", args

    def parse(self, output: bytes) -> dict[str, StepResult]:
        results: dict[str, StepResult] = {}
        pos = 0
        while pos < len(output):
            end = output.find(b"\n", pos)
            header = output[pos:end].split(b" ") if end >= 0 else []
            if len(header) != 6 or header[0] != MARKER:
                raise CommandFailed(f"batch output is garbled at byte {pos} (after step {len(results)})")
            index, rc, n_meta, n_out, n_err = (int(x) for x in header[1:])
            start = end + 1
            stop = start + n_meta + n_out + n_err
            if stop > len(output) or index >= len(self._steps):
                raise CommandFailed(f"batch output truncated in step {self._steps[min(index, len(self._steps) - 1)].key!r}")
            meta_raw = output[start:start + n_meta]
            results[self._steps[index].key] = StepResult(
                rc=rc,
                stdout=output[start + n_meta:start + n_meta + n_out],
                stderr=output[start + n_meta + n_out:stop],
                meta=_meta(meta_raw),
            )
            pos = stop
        missing = [k for k in self.keys if k not in results]
        if missing:
            raise CommandFailed(f"batch output ended before step {missing[0]!r} ({len(missing)} step(s) missing)")
        return results


def _meta(raw: bytes) -> dict[str, str]:
    meta = {}
    for line in raw.decode("utf-8", errors="surrogateescape").splitlines():
        # The symlink target is a line of its own (it may hold spaces); stat's fields share one line.
        words = [line] if line.startswith("link=") else line.split()
        for word in words:
            key, sep, value = word.partition("=")
            if sep:
                meta[key] = value
    return meta


def run_batch(conn: Connection, batch: Batch, *, become: bool = False,
              timeout: float | None = 120) -> dict[str, StepResult]:
    """Run the whole batch in one round trip and return each step's result."""
    script, args = batch.script()
    result = conn.run_script(script, args=args, become=become, timeout=timeout)
    if result.rc != 0:
        raise CommandFailed(
            f"{conn.host_name}: batch script failed (exit {result.rc}): {result.text('stderr').strip()[-300:]}",
            rc=result.rc, stderr=result.text("stderr"),
        )
    return batch.parse(result.stdout)
