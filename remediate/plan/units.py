"""docker.service and docker.socket drop-ins, and the EnvironmentFile rewrite, that take insecure flags away.

Why drop-ins named `zz-remediate.conf`: systemd applies the drop-ins of a unit
in the lexical order of their file names, across /etc, /run and /usr/lib
(systemd.unit(5)); for list settings such as ExecStart= and ListenStream= a
later file *adds* to the list unless it first assigns the empty value, which
resets it. So an existing drop-in that introduced TCP (the tcp-socket-unit
scenario's `tcp.conf` with `ListenStream=2375`, or a `hosts.conf` replacing
ExecStart) is overridden, without touching or deleting the owner's file, by a
drop-in that sorts after it and starts with `ListenStream=` / `ExecStart=`.
"zz-" sorts after every usual name; a drop-in that still sorts later and sets
the same setting is reported in the plan's notes.

The service drop-in is written only when needed: a flag to remove is on the
ExecStart line, or `hosts` leaves daemon.json (or -H flags leave the command
line) and no -H would remain. It keeps the host's ExecStart exactly (binary
path, prefixes, `--containerd=...`, `$DOCKER_OPTS`, quoting), minus the
removed words, plus `-H fd://` when no -H remains (`-H unix://...` when the
host has no docker.socket). It never puts `hosts` in daemon.json.

The socket drop-in lists the host's unix ListenStream paths only, with
SocketMode=0660 (or the host's stricter mode), SocketUser=root, SocketGroup=docker.

/etc/default/docker (or /etc/sysconfig/docker, or whichever EnvironmentFile
carries the variable): only the words of the removed flags leave the
assignment; every other byte (comments, other variables, quoting) stays.
Each rewrite is re-parsed the way systemd reads it and must give exactly the
old words minus the removed ones, or it is not made (and the plan says so).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from remediate.dockerd.flags import Flag
from remediate.dockerd.hosts import HostError, parse_daemon_host, parse_listen_stream
from remediate.dockerd.systemd import UnitSyntaxError, exec_start_prefixes, parse_env_file, split_words
from remediate.plan.daemon_json import KEY_CHECKS, json_equal
from remediate.plan.model import FileChange
from remediate.plan.view import HostView, UnitLine
from remediate.templates import render

DROP_IN_NAME = "zz-remediate.conf"
SERVICE_DROPIN = f"/etc/systemd/system/docker.service.d/{DROP_IN_NAME}"
SOCKET_DROPIN = f"/etc/systemd/system/docker.socket.d/{DROP_IN_NAME}"
SOCKET_MODE = 0o660
UNIT_MODE = 0o644


@dataclass(frozen=True)
class Removal:
    """A dockerd flag harden takes off the command line, and why."""

    flag: Flag
    why: str
    checks: tuple[str, ...]

    @property
    def words(self) -> list[str]:
        """The argv words the flag occupies: ["-H", "tcp://..."] or ["--host=tcp://..."]."""
        first, space, rest = self.flag.written.partition(" ")
        if space and rest == self.flag.value and "=" not in first:
            return [first, rest]
        return [self.flag.written]

    @property
    def via(self) -> str:
        return self.flag.source.via or ""


def is_tcp(value: str) -> bool:
    try:
        return parse_daemon_host(value).proto == "tcp"
    except HostError:
        return False


def flags_to_remove(view: HostView, *, remove_tcp: bool, leave: set[str]) -> list[Removal]:
    """Insecure flags: TCP -H (when TCP lacks TLS client verification), --insecure-registry, and the
    flags of keys the policy maps to null that hold a non-default value (-D, --experimental,
    --iptables=false, --cgroup-parent). `leave`: keys held back or waived."""
    from remediate.dockerd.options import defaults

    base = defaults(view.version)
    nulls = {k for k, v in view.policy.daemon.items() if v is None} - leave
    out = []
    line = view.effective.command_line
    for flag in line.flags:
        key = flag.option.key
        if key == "hosts" and remove_tcp and is_tcp(flag.value):
            out.append(Removal(flag, "TCP endpoint without TLS client verification", KEY_CHECKS["hosts"]))
        elif key == "insecure-registries" and key not in leave:
            out.append(Removal(flag, "insecure registry (policy: no insecure registries)", KEY_CHECKS[key]))
        elif key in nulls and key != "insecure-registries":
            value = line.value(key)
            if key in base and json_equal(value, base[key]):
                continue
            out.append(Removal(flag, f"the policy leaves {key} at dockerd's default", KEY_CHECKS.get(key, ())))
    return out


# --- ExecStart ------------------------------------------------------------------------
def exec_start_line(view: HostView) -> UnitLine | None:
    """The ExecStart= line systemd uses: the last one after the empty-value resets."""
    current: list[UnitLine] = []
    for entry in view.unit_lines("docker.service", "Service", "ExecStart"):
        current = [*current, entry] if entry.value else []
    return current[-1] if current else None


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where each ExecStart= word starts and ends in the raw text (quotes and escapes inside the span)."""
    spans = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            break
        start, quote = i, None
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if quote:
                quote = None if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c in " \t\n\r":
                break
            i += 1
        spans.append((start, min(i, n)))
    return spans


def _without(words: list[str], part: list[str]) -> list[str] | None:
    """`words` with the first contiguous occurrence of `part` taken out; None if absent."""
    for i in range(len(words) - len(part) + 1):
        if words[i : i + len(part)] == part:
            return words[:i] + words[i + len(part) :]
    return None


@dataclass(frozen=True)
class ServiceDropIn:
    change: FileChange | None
    handled: tuple[Removal, ...]
    notes: tuple[str, ...]


def from_environment(removal: Removal) -> bool:
    """The flag comes from a variable set by Environment= in a docker.service unit file."""
    return removal.flag.source.path == "Environment="


def _environment_lines(view: HostView, removals: list[Removal]) -> tuple[list[str], list[Removal], list[str]]:
    """Environment= assignments that give each variable its value without the removed flags: systemd takes
    the last assignment, and harden's drop-in sorts last. The words are split as $VAR expands them."""
    env = view.ctx.service.environment
    lines, handled, notes = [], [], []
    by_name: dict[str, list[Removal]] = {}
    for removal in removals:
        by_name.setdefault(removal.flag.source.via or "", []).append(removal)
    for name, group in sorted(by_name.items()):
        words = env.get(name, "").split()
        done = []
        for removal in group:
            part = removal.words
            at = next((i for i in range(len(words) - len(part) + 1) if words[i : i + len(part)] == part), None)
            if at is None:
                notes.append(
                    f"{removal.flag.written!r} could not be located as its own word(s) in {name} "
                    "(Environment=): remove it by hand"
                )
                continue
            del words[at : at + len(part)]
            done.append(removal)
        value = " ".join(words)
        if done and any(c in '"\\%' or ord(c) < 32 for c in value):
            notes.append(
                f"{name} (Environment=) holds characters harden does not re-quote: "
                f"{', '.join(repr(r.flag.written) for r in done)} not removed (edit by hand)"
            )
            continue
        if done:
            lines.append(f'"{name}={value}"')
            handled += done
    return lines, handled, notes


def service_dropin(
    view: HostView, removals: list[Removal], *, need_host: bool, fixes: tuple[str, ...]
) -> ServiceDropIn:
    """The docker.service drop-in, when a removal is on the ExecStart line or in a variable set by
    Environment=, or no -H would remain."""
    environment, env_handled, env_notes = _environment_lines(view, [r for r in removals if from_environment(r)])
    wanted = [r for r in removals if r.via == "ExecStart"]
    if not wanted and not need_host:
        if not environment:
            return ServiceDropIn(None, (), tuple(env_notes))
        text = render("harden/docker.service.conf.j2", exec_start=None, environment=environment)
        reason = f"Environment= without {', '.join(repr(r.flag.written) for r in env_handled)}"
        return ServiceDropIn(
            _new_file(view, SERVICE_DROPIN, text.encode(), UNIT_MODE, fixes, reason),
            tuple(env_handled),
            tuple(env_notes),
        )
    entry = exec_start_line(view)
    if entry is None:
        return ServiceDropIn(
            None,
            (),
            (
                (
                    "docker.service: no ExecStart= line was read from its unit files; the "
                    "ExecStart flags cannot be rewritten (edit the unit by hand)"
                ),
            ),
        )
    raw = entry.value
    try:
        decoded = split_words(raw)
    except UnitSyntaxError:
        return ServiceDropIn(
            None, (), (f"{entry.path}:{entry.line}: ExecStart= has unbalanced quoting; not rewritten",)
        )
    spans = word_spans(raw)
    words = [raw[a:b] for a, b in spans]
    if len(words) != len(decoded):
        return ServiceDropIn(
            None, (), (f"{entry.path}:{entry.line}: ExecStart= could not be split safely; not rewritten",)
        )
    head = 1
    prefixes, _ = exec_start_prefixes(decoded[0]) if decoded else ("", "")
    if "@" in prefixes:
        head = 2
    keep = [True] * len(words)
    handled, notes = [], []
    for removal in wanted:
        part = removal.words
        for i in range(head, len(decoded) - len(part) + 1):
            if all(keep[i : i + len(part)]) and decoded[i : i + len(part)] == part:
                for j in range(i, i + len(part)):
                    keep[j] = False
                handled.append(removal)
                break
        else:
            notes.append(
                f"{entry.path}:{entry.line}: {removal.flag.written!r} could not be located as its own "
                "word(s) in ExecStart= (glued to other flags?): remove it by hand"
            )
    new_words = [w for w, k in zip(words, keep, strict=True) if k]
    expected = [d for d, k in zip(decoded, keep, strict=True) if k]
    remaining_h = [
        f
        for f in view.effective.command_line.given("hosts")
        if f.source.via == "ExecStart" and f not in [r.flag for r in handled]
    ]
    if need_host and not remaining_h:
        host = ["-H", "fd://"] if view.socket_loaded else ["-H", "unix:///var/run/docker.sock"]
        new_words[head:head] = host
        expected[head:head] = host
    exec_start = " ".join(new_words)
    if split_words(exec_start) != expected:
        return ServiceDropIn(
            None,
            (),
            (
                (
                    f"{entry.path}:{entry.line}: the rewritten ExecStart= did not re-read as "
                    "intended; not written (edit by hand)"
                ),
            ),
        )
    later = _later_dropins(view, "docker.service", "Service", "ExecStart")
    notes += [f"{path} sorts after {DROP_IN_NAME} and sets ExecStart=: it overrides harden's drop-in" for path in later]
    text = render("harden/docker.service.conf.j2", exec_start=exec_start, environment=environment)
    handled += env_handled
    notes += env_notes
    parts = [f"without {', '.join(repr(r.flag.written) for r in handled)}"] if handled else []
    parts += ["with -H fd:// (the unix socket only; hosts leaves daemon.json)"] if need_host else []
    reason = f"dockerd's command line as in {entry.path}:{entry.line}, " + " and ".join(parts)
    return ServiceDropIn(
        _new_file(view, SERVICE_DROPIN, text.encode(), UNIT_MODE, fixes, reason), tuple(handled), tuple(notes)
    )


def _later_dropins(view: HostView, unit: str, section: str, key: str) -> list[str]:
    paths = view.unit_paths(unit)[1:]
    later = [p for p in paths if os.path.basename(p) > DROP_IN_NAME]
    return [p for p in later if any(u.path == p for u in view.unit_lines(unit, section, key))]


def _new_file(view: HostView, path: str, content: bytes, mode: int, fixes, reason: str) -> FileChange | None:
    """A file harden owns (a drop-in): created, or rewritten when its bytes differ."""
    fact = view.file(path)
    if fact.exists and fact.content == content:
        return None
    return FileChange(
        path=path,
        before=fact.content if fact.exists else None,
        after=content,
        owner="root",
        group="root",
        mode=mode if not fact.exists or fact.mode is None else fact.mode & mode,
        fixes=tuple(fixes),
        reason=reason,
        old_mode=fact.mode if fact.exists else None,
        old_owner=fact.owner if fact.exists else None,
        old_group=fact.group if fact.exists else None,
        old_inode=fact.inode if fact.exists else None,
    )


# --- docker.socket --------------------------------------------------------------------------
def socket_needs(view: HostView, *, remove_tcp: bool) -> list[str]:
    """Why docker.socket needs harden's drop-in (empty: it does not)."""
    if not view.socket_loaded:
        return []
    why = []
    tcp = [entry for entry in view.socket_listen if _listen_is_tcp(entry)]
    if remove_tcp and tcp:
        why.append(f"TCP listen address {', '.join(tcp)} served through -H fd:// without TLS client verification")
    socket = view.socket_props
    mode = socket.socket_mode
    if mode and int(mode, 8) & ~SOCKET_MODE:
        why.append(f"SocketMode={mode} (at most 0660)")
    if socket.socket_user not in ("", "root") or socket.socket_group not in ("", "docker"):
        why.append(
            f"socket owned by {socket.socket_user or 'root'}:{socket.socket_group or 'root'} (root:docker expected)"
        )
    failing = {"3.15", "3.16"} & view.failing
    if failing and not why:
        why.append("the socket file's owner or mode differs from the unit (" + ", ".join(sorted(failing)) + ")")
    return why


def _listen_is_tcp(entry: str) -> bool:
    endpoint = parse_listen_stream(entry)
    return endpoint is not None and endpoint.proto == "tcp"


def socket_dropin(view: HostView, *, remove_tcp: bool, fixes: tuple[str, ...]) -> tuple[FileChange | None, list[str]]:
    why = socket_needs(view, remove_tcp=remove_tcp)
    if not why:
        return None, []
    paths = [entry for entry in view.socket_listen if entry.startswith("/")] or ["/run/docker.sock"]
    written_mode = view.socket_props.socket_mode
    mode = (int(written_mode, 8) & SOCKET_MODE) if written_mode else SOCKET_MODE
    notes = []
    group = "docker"
    if view.ctx.parsed.docker_group.answered and not view.ctx.parsed.docker_group.exists:
        group = "root"
        notes.append("docker.socket: there is no docker group on this host; the socket is given to root:root")
    later = _later_dropins(view, "docker.socket", "Socket", "ListenStream")
    later += [p for p in _later_dropins(view, "docker.socket", "Socket", "SocketMode") if p not in later]
    notes += [
        f"{path} sorts after {DROP_IN_NAME} and sets the same settings: it overrides harden's drop-in" for path in later
    ]
    text = render("harden/docker.socket.conf.j2", listen=paths, mode=f"{mode:04o}", user="root", group=group)
    change = _new_file(view, SOCKET_DROPIN, text.encode(), UNIT_MODE, fixes, "docker.socket: " + "; ".join(why))
    return change, notes


# --- EnvironmentFile= ----------------------------------------------------------------------------
def environment_files(view: HostView) -> list[str]:
    return [path for path, _ in view.ctx.service.environment_files]


def _word_regex(words: list[str]) -> re.Pattern:
    return re.compile(r"(?<![^\s\"'=])" + r"[ \t]+".join(re.escape(w) for w in words) + r"(?![^\s\"'])")


def _assigned(content: bytes, path: str, name: str) -> str | None:
    value = None
    for key, val, _line in parse_env_file(content, path).assignments:
        if key == name:
            value = val
    return value


def env_file_rewrites(view: HostView, removals: list[Removal]) -> tuple[list[FileChange], list[Removal], list[str]]:
    """Rewrites of the environment files that carry removed flags (DOCKER_OPTS, OPTIONS...)."""
    files = environment_files(view)
    by_file: dict[str, list[Removal]] = {}
    notes: list[str] = []
    for removal in removals:
        source = removal.flag.source
        if source.path in files:
            by_file.setdefault(source.path, []).append(removal)
    changes, handled = [], []
    for path in sorted(by_file):
        fact = view.file(path)
        if fact.content is None:
            notes.append(f"{path}: not read; {', '.join(r.flag.written for r in by_file[path])} not removed")
            continue
        text = fact.content.decode("utf-8", "surrogateescape")
        done = []
        for removal in by_file[path]:
            name, line = removal.flag.source.via or "", removal.flag.source.line or 1
            start = sum(len(x) for x in text.splitlines(keepends=True)[: line - 1])
            match = _word_regex(removal.words).search(text, start)
            old = _assigned(text.encode("utf-8", "surrogateescape"), path, name)
            if match is None or old is None:
                notes.append(
                    f"{path}:{line}: {removal.flag.written!r} not found as plain words in {name}: remove it by hand"
                )
                continue
            a, b = match.span()
            if a > 0 and text[a - 1] in " \t":
                while a > 0 and text[a - 1] in " \t":
                    a -= 1
            else:
                while b < len(text) and text[b] in " \t":
                    b += 1
            candidate = text[:a] + text[b:]
            new = _assigned(candidate.encode("utf-8", "surrogateescape"), path, name)
            expected = _without(split_words(old, value=True), removal.words)
            if new is None or expected is None or split_words(new, value=True) != expected:
                notes.append(
                    f"{path}:{line}: removing {removal.flag.written!r} from {name} would change other words; "
                    "remove it by hand"
                )
                continue
            text = candidate
            done.append(removal)
        if not done:
            continue
        after = text.encode("utf-8", "surrogateescape")
        checks = tuple(sorted({c for r in done for c in r.checks} & view.failing))
        reason = (
            f"{', '.join(sorted({r.via for r in done}))}: remove "
            + ", ".join(f"{r.flag.written!r} ({r.why})" for r in done)
            + "; every other line kept"
        )
        changes.append(FileChange.rewrite(fact, after, checks, reason))
        handled += done
    return changes, handled, notes
