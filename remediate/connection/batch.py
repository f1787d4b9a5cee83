"""Many reads and commands in ONE round trip, with output framed so any bytes survive.

The batch is a single POSIX sh script (no bash, no Python on the target).
Step i writes its metadata, stdout and stderr to files i.m, i.o and i.e in a
private `mktemp -d` directory and its exit status to a list. After the last
step the script prints `<marker> rc <rc of each step>`, the byte sizes of all
those files (one `stat` for the whole batch), `<marker> data`, their bytes in
step order (one `cat`), and a trailer `<marker> end <steps>`. Framing thus
costs two processes per batch, not several per step: on a fleet of small
hosts the host's CPU is what a batch waits for. The parser reads by length,
never by searching for a delimiter, so binary content, NULs, invalid UTF-8 or
a file that contains the marker cannot confuse it; output cut short or
garbled is an error naming the step, never a partial result. Every
host-supplied value (paths, argv, env values) reaches the script as a
positional parameter, never as script text. A failing step does not stop the
steps after it. A stat step (add_stat) reports what a read reports except the
bytes: its script never opens the file, so key material can be judged by its
owner and mode without ever leaving the host. The read and stat steps share
one `stat` of every path that exists when the batch starts (a process per
path was most of what reading a host's fixed paths cost it); a path whose
existence changed meanwhile, or a batch whose shared stat failed, is stat-ed
alone, as before, so no step ever takes another path's fields.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from remediate.connection.base import Connection, checked_argv, quote_command
from remediate.errors import BatchOutputError

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Larger files are read up to this size and flagged truncated (a daemon.json of MBs is a finding, not data).
READ_LIMIT = 8 * 1024 * 1024
_ENV_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# Meta of a read is `key=value` lines; `link=` comes last and runs to the end, so a
# symlink target holding newlines or "mode=" cannot forge the fields before it.
# stat's fields of a path, one `key=value` line each (a user or group name never holds a newline): so many lines
# a record, whatever the path, which is how prestat's one stat for many paths is cut into records.
_STAT_FORMAT = "mode=%a\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\ndev=%d\nino=%i"
_STAT_LINES = " ".join(str(n) for n in range(1, _STAT_FORMAT.count("\n") + 2))
# prestat PATH...: the read and stat steps' paths, in step order, before the first step. ONE stat for those that
# exist; fd 8 then holds a line per path (1: its record is next on fd 9, 0: not stat-ed), fd 9 the records.
# When that stat fails (a path went away, a directory refused us) no record is used: each step stats alone.
# statfile PATH: meta on stdout (the path's inode is never opened); its status is stat's. It takes its path's
# line from fd 8 (every read and stat step does, once, in order) and uses the record only when the path
# exists now too; one that appeared since prestat is stat-ed alone.
# readfile PATH LIMIT CONTENT_FILE: statfile's meta on stdout, the file's first LIMIT bytes into CONTENT_FILE;
# a symlink whose target looks like key material (keylike: facts.probes.is_key_material's name rules) is not
# read, and its meta says read=no, as a stat step's does.
_PROLOGUE = f"""\
PATH={PATH}:$PATH; export PATH; LC_ALL=C; export LC_ALL
umask 077
d=$(mktemp -d 2>/dev/null || mktemp -d -p /dev/shm 2>/dev/null) ||
  {{ echo "remediate: no writable temp directory" >&2; exit 111; }}
trap 'rm -rf "$d"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
kindof() {{
    if [ -d "$1" ]; then t=dir; elif [ -f "$1" ]; then t=file; elif [ -S "$1" ]; then t=socket
    elif [ -e "$1" ]; then t=other; else t=missing; fi
}}
prestat() {{
    n=$#; pre=
    for p; do if [ -e "$p" ]; then set -- "$@" "$p"; echo 1; else echo 0; fi; done >"$d/pre"
    shift $n
    [ $# -gt 0 ] && stat -L -c '{_STAT_FORMAT}' -- "$@" >"$d/stat" 2>/dev/null && exec 8<"$d/pre" 9<"$d/stat" &&
      pre=1
}}
statfile() {{
    e=0; [ -z "$pre" ] || IFS= read -r e <&8 || e=0
    kindof "$1"
    if [ -L "$1" ]; then printf 'kind=symlink\\ntarget=%s\\n' "$t"; else printf 'kind=%s\\n' "$t"; fi
    s=0
    if [ "$e" = 1 ]; then
        for k in {_STAT_LINES}; do IFS= read -r l <&9; [ "$t" = missing ] || printf '%s\\n' "$l"; done
    elif [ "$t" != missing ]; then
        stat -L -c '{_STAT_FORMAT}' -- "$1" || s=$?
    fi
    if [ -L "$1" ]; then printf 'link='; readlink -- "$1"; fi
    return $s
}}
readfile() {{
    : >"$3"
    if [ -L "$1" ] && [ -f "$1" ] && keylike "$(readlink -f -- "$1")"; then
        printf 'read=no\n'; statfile "$1"; return
    fi
    statfile "$1"
    rc=0
    if [ "$t" = file ]; then head -c "$2" -- "$1" >"$3" || rc=$?; fi
    return $rc
}}
keylike() {{
    case $1 in
    /etc/docker/certs.d/*|/etc/docker/key.json|*.[kK][eE][yY]|*.[pP][eE][mM]|*.[cC][rR][tT]|*.[cC][eE][rR][tT]|\
    *.[pP]12|*.[pP][fF][xX]) return 0 ;;
    esac
    return 1
}}
r=
"""


@dataclass(frozen=True)
class FileStat:
    mode: int
    uid: int
    gid: int
    owner: str
    group: str
    size: int
    mtime: int
    dev: int | None = None  # st_dev and st_ino: which file this is (a replaced file has a new inode)
    ino: int | None = None


@dataclass(frozen=True)
class FileInfo:
    """What a read or stat step found at a path; symlinks are followed for stat and content."""

    kind: str  # file | dir | socket | other | symlink | missing
    target_kind: str  # what the path resolves to (== kind unless a symlink)
    link_target: str | None
    stat: FileStat | None  # None when stat is missing or failed on the host
    content: bytes | None = field(
        repr=False
    )  # regular files (or links to them) that could be read; never for a stat step
    truncated: bool = False

    @property
    def exists(self) -> bool:
        return self.target_kind != "missing"

    @property
    def is_file(self) -> bool:
        return self.target_kind == "file"

    @property
    def is_dir(self) -> bool:
        return self.target_kind == "dir"

    @property
    def is_symlink(self) -> bool:
        return self.kind == "symlink"


@dataclass(frozen=True)
class StepResult:
    rc: int
    stdout: bytes
    stderr: bytes
    meta: dict[str, str] = field(default_factory=dict)  # read and stat steps only: the raw `key=value` fields

    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @cached_property
    def file(self) -> FileInfo | None:
        """The typed view of a read or stat step; None for commands and snippets."""
        meta = self.meta
        if "kind" not in meta:
            return None
        try:
            stat = FileStat(
                int(meta["mode"], 8),
                int(meta["uid"]),
                int(meta["gid"]),
                meta["owner"],
                meta["group"],
                int(meta["size"]),
                int(meta["mtime"]),
                *(int(meta[k]) if meta.get(k, "").isdigit() else None for k in ("dev", "ino")),
            )
        except (KeyError, ValueError):
            stat = None
        target = meta.get("target", meta["kind"])
        readable = target == "file" and self.rc == 0 and meta.get("read") != "no"
        return FileInfo(
            kind=meta["kind"],
            target_kind=target,
            link_target=meta.get("link"),
            stat=stat,
            content=self.stdout if readable else None,
            truncated=meta.get("truncated") == "1",
        )


@dataclass(frozen=True)
class _Step:
    key: str
    what: str  # for error messages
    body: str  # script fragment producing the step's output
    args: tuple[str, ...]
    path_ref: str | None = None  # a read or stat step's path, as the script refers to it (prestat's argument)


class Batch:
    """Build one script from steps; parse its framed output back into per-step results."""

    def __init__(self) -> None:
        self._steps: list[_Step] = []
        self._nargs = 0
        self._limits: dict[str, int] = {}
        self._stat_only: set[str] = set()
        self.marker = b"@@remediate-" + secrets.token_hex(8).encode() + b"@@"

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self._steps]

    def add_command(self, key: str, argv: Sequence[str]) -> Batch:
        """Run argv (every word passed as a positional parameter); its stdin is /dev/null."""
        words = checked_argv(argv)
        refs = self._params(words)
        m, o, e = self._files()
        return self._add(
            key, f"run {quote_command(words)[:80]}", f": >{m}; ( {' '.join(refs)} ) </dev/null >{o} 2>{e}", words
        )

    def add_read(self, key: str, path: str, *, limit: int = READ_LIMIT) -> Batch:
        """Read a path: kind, stat (mode, owner, size, mtime, device, inode), symlink target, and a regular
        file's bytes."""
        (ref,) = self._params(checked_argv([path]))
        self._limits[key] = limit
        m, o, e = self._files()
        return self._add(key, f"read {path!r}", f"readfile {ref} {limit + 1} {o} >{m} 2>{e}", [path], ref)

    def add_stat(self, key: str, path: str) -> Batch:
        """What add_read reports except the bytes: the step never opens the file (key material stays on the
        host). Its result has no stdout and FileInfo.content None, even for a regular file."""
        (ref,) = self._params(checked_argv([path]))
        self._stat_only.add(key)
        m, o, e = self._files()
        return self._add(key, f"stat {path!r}", f": >{o}; statfile {ref} >{m} 2>{e}", [path], ref)

    def add_shell(
        self,
        key: str,
        snippet: str,
        env: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        handoffs: Mapping[str, str] | None = None,
    ) -> Batch:
        """A trusted snippet of our own code, in a subshell; values it needs come in through `env`.

        Each env value is passed as a positional parameter and assigned inside
        the subshell, so it is data to the snippet and ends with the step.
        `inputs` maps a variable name to an earlier step's key: the variable
        holds the path of that step's stdout file, so a probe can build on
        what an earlier one printed (a PID, a count) without running it again.
        `handoffs` does the same for the files an earlier snippet wrote at
        "$HANDOFF.<suffix>" (a private prefix each snippet gets, never framed):
        one docker command can then answer for two probes.
        """
        values = checked_argv(list((env or {}).values())) if env else []
        names = list((env or {}).keys())
        for name in [*names, *(inputs or {}), *(handoffs or {})]:
            if not name or name[0].isdigit() or set(name) - _ENV_NAME_CHARS:
                raise ValueError(f"invalid environment variable name {name!r}")
        assigns = "".join(
            f"{name}={ref}; export {name}; " for name, ref in zip(names, self._params(values), strict=True)
        )
        for name, step_key in [*(inputs or {}).items(), *(handoffs or {}).items()]:
            if step_key not in self.keys:
                raise ValueError(f"step {key!r} reads the output of {step_key!r}, which is not an earlier step")
            index = self.keys.index(step_key)
            assigns += f"{name}={self._files(index)[1] if name in (inputs or {}) else self._handoff(index)}; "
        assigns += f"HANDOFF={self._handoff(len(self._steps))}; "
        m, o, e = self._files()
        return self._add(key, "shell snippet", f": >{m}; ( {assigns}\n{snippet}\n) </dev/null >{o} 2>{e}", values)

    def script(self) -> tuple[str, list[str]]:
        """The script text (ours only) and its positional arguments (every untrusted value)."""
        parts = [_PROLOGUE, f"M={self.marker.decode()}"]
        paths = [step.path_ref for step in self._steps if step.path_ref]
        if paths:
            parts.append(f"prestat {' '.join(paths)}")
        last_path = max((i for i, step in enumerate(self._steps) if step.path_ref), default=None)
        args: list[str] = []
        for index, step in enumerate(self._steps):
            args.extend(step.args)
            parts.append(f'{step.body}; r="$r $?"')
            if index == last_path:  # no later step's command inherits prestat's descriptors
                parts.append("exec 8<&- 9<&-; pre=")
        files = " ".join(f for index in range(len(self._steps)) for f in self._files(index))
        parts.append(f"""printf '%s rc%s\\n' "$M" "$r"\nstat -c %s -- {files}\nprintf '%s data\\n' "$M"
cat -- {files}\nprintf '%s end %s\\n' "$M" {len(self._steps)}""")
        return "\n".join(parts) + "\n", args

    def parse(self, output: bytes) -> dict[str, StepResult]:
        """Every step's result, or BatchOutputError naming the first step that is cut short or garbled."""
        steps = len(self._steps)
        start = output.find(self.marker + b" rc")  # anything before it is login-shell noise
        if start < 0:
            raise BatchOutputError("the batch produced no framed output" + self._at(0))
        # The rc line, one size line per file, the data line, then the bytes.
        head = output[start:].split(b"\n", 3 * steps + 2)
        rcs, sizes = head[0].split(b" ")[2:], head[1 : 1 + 3 * steps]
        frames = []
        for index in range(steps):
            try:
                frame = (int(rcs[index]), *(int(n) for n in sizes[3 * index : 3 * index + 3]))
                if len(frame) != 4 or min(frame[1:]) < 0:
                    raise ValueError
            except (IndexError, ValueError):
                detail = "ended" if len(head) < 3 * index + 5 else "is garbled"
                raise BatchOutputError(
                    f"batch output {detail} in the step results (from byte {start})" + self._at(index)
                ) from None
            frames.append(frame)
        if len(rcs) != steps or len(head) < 3 * steps + 3 or head[3 * steps + 1] != self.marker + b" data":
            raise BatchOutputError(f"batch output is garbled after the step results (from byte {start})")
        pos = len(output) - len(head[-1])
        results: dict[str, StepResult] = {}
        for index, (step, (rc, n_meta, n_out, n_err)) in enumerate(zip(self._steps, frames, strict=True)):
            stop = pos + n_meta + n_out + n_err
            if stop > len(output):
                raise BatchOutputError(
                    f"batch output truncated: {len(output) - pos} of {stop - pos} bytes" + self._at(index)
                )
            meta, out, err = (
                output[pos : pos + n_meta],
                output[pos + n_meta : stop - n_err],
                output[stop - n_err : stop],
            )
            results[step.key] = self._result(step.key, rc, meta, out, err)
            pos = stop
        if not output.startswith(self.marker + b" end %d\n" % steps, pos):
            raise BatchOutputError(f"batch output has no end trailer at byte {pos} (after the last step)")
        return results

    def _result(self, key: str, rc: int, meta_raw: bytes, out: bytes, err: bytes) -> StepResult:
        meta = _meta(meta_raw)
        if key in self._stat_only:
            meta["read"] = "no"  # set here, not by the host: a stat step's result never holds content
            out = b""
        limit = self._limits.get(key)
        if limit is not None and len(out) > limit:
            out, meta["truncated"] = out[:limit], "1"
        return StepResult(rc=rc, stdout=out, stderr=err, meta=meta)

    def _at(self, index: int) -> str:
        if index >= len(self._steps):
            return ""
        step = self._steps[index]
        return f", in step {index} {step.key!r} ({step.what})"

    def _params(self, values: Sequence[str]) -> list[str]:
        refs = [f'"${{{self._nargs + i + 1}}}"' for i in range(len(values))]
        self._nargs += len(values)
        return refs

    def _files(self, index: int | None = None) -> tuple[str, str, str]:
        """A step's meta, stdout and stderr files (named by its index; the next step's by default)."""
        i = len(self._steps) if index is None else index
        return f'"$d/{i}.m"', f'"$d/{i}.o"', f'"$d/{i}.e"'

    @staticmethod
    def _handoff(index: int) -> str:
        """The prefix of the files shell step `index` may leave for later steps (in the temp dir, never framed)."""
        return f'"$d/{index}.h"'

    def _add(self, key: str, what: str, body: str, args: Sequence[str], path_ref: str | None = None) -> Batch:
        if key in self.keys:
            raise ValueError(f"duplicate batch step {key!r}")
        self._steps.append(_Step(key, what, body, tuple(args), path_ref))
        return self


def _meta(raw: bytes) -> dict[str, str]:
    text = raw.decode("utf-8", errors="surrogateescape")
    head, sep, link = text.partition("\nlink=")
    meta = {}
    for line in head.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            meta[key] = value
    if sep:
        meta["link"] = link.removesuffix("\n")
    return meta


def run_batch(
    conn: Connection, batch: Batch, *, become: bool = False, timeout: float | None = 120
) -> dict[str, StepResult]:
    """Run the whole batch in one round trip and return each step's result."""
    script, args = batch.script()
    result = conn.run_script(script, args=args, become=become, timeout=timeout)
    try:
        return batch.parse(result.stdout)
    except BatchOutputError as exc:
        detail = result.text("stderr").strip()[-300:]
        raise BatchOutputError(
            f"{conn.host_name}: {exc} (script exit {result.rc}" + (f": {detail})" if detail else ")"),
            rc=result.rc,
            stderr=result.text("stderr"),
        ) from None
