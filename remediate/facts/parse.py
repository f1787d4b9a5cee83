"""Pure parsers from gathered command output to typed data. No I/O."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

_NUMBER = re.compile(r"[0-9]+")


def lines(text: str) -> list[str]:
    """Lines as the host's tools write them: split at "\\n" only.

    str.splitlines() also splits at \\x85, \\x0c, \\x1c-\\x1e, \\u2028..., which
    can sit inside a value (a path, an argv word, a JSON string docker does not
    escape) and would cut one record in two or make one up.
    """
    return text.split("\n")


def systemctl_show(text: str) -> dict[str, str]:
    """`systemctl show -p A -p B unit` output (KEY=VALUE lines) as a dict.

    systemctl prints a list property one line per element (`Listen=` per
    listener, `EnvironmentFiles=` per file, `ExecStart=` per command), so a
    repeated key keeps all its values, joined by newlines (no value can hold
    one); `show_list` splits them again.
    """
    props: dict[str, str] = {}
    for line in lines(text):
        key, sep, value = line.partition("=")
        if sep:
            props[key] = f"{props[key]}\n{value}" if key in props else value
    return props


def show_list(props: dict[str, str], key: str) -> list[str]:
    """Every value of a list property of `systemctl_show` output, in order."""
    value = props.get(key, "")
    return value.split("\n") if value else []


def socket_listen(props: dict[str, str]) -> list[str]:
    """A socket unit's stream listen addresses: `Listen=/run/docker.sock (Stream)` -> "/run/docker.sock"."""
    found = []
    for entry in show_list(props, "Listen"):
        match = re.fullmatch(r"(.+) \(Stream\)", entry)
        if match:
            found.append(match.group(1))
    return found


def exec_start_commands(value: str) -> list[str]:
    """The command lines in systemctl's ExecStart property.

    systemctl prints `{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// ... ; ignore_errors=no ; ... }`,
    one brace group per ExecStart= line; argv[] is what the unit file says, with variables unexpanded.
    """
    return [m.group(1).strip() for m in re.finditer(r"argv\[\]=(.*?) ; ignore_errors=", value)]


def exec_start_paths(value: str) -> list[str]:
    """The executable systemd runs (`path=`) for each command in systemctl's ExecStart property."""
    return [m.group(1) for m in re.finditer(r"\{ path=(.*?) ; argv\[\]=", value)]


def environment_files(value: str) -> list[tuple[str, bool]]:
    """EnvironmentFiles property: `/etc/default/docker (ignore_errors=yes)` -> [(path, optional)]."""
    found = []
    for entry in value.split("\n"):
        match = re.fullmatch(r"(.+) \(ignore_errors=(yes|no)\)", entry)
        if match:
            found.append((match.group(1), match.group(2) == "yes"))
    return found


_SHOWN_WORD = re.compile(r'"((?:[^"\\]|\\.)*)"(?= |$)|([^ ]+)', re.DOTALL)
_SHOWN_ESCAPE = re.compile(r"\\([0-3][0-7]{2}|.)", re.DOTALL)
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def environment(value: str) -> dict[str, str]:
    """Environment property: KEY=VALUE words as systemctl prints them.

    systemctl quotes a word holding spaces or shell characters with
    shell_maybe_quote(): the whole word in double quotes, a backslash before
    " \\ ` and $, control characters C-escaped (\\n, \\033). shlex reads
    that wrongly (it keeps the backslash of \\$ and \\`), so it is undone here.
    Words are separated by one space exactly (other Unicode spaces are data).
    """
    env = {}
    for match in _SHOWN_WORD.finditer(value):
        quoted, bare = match.groups()
        word = bare if bare is not None else _SHOWN_ESCAPE.sub(_unescape_shown, quoted)
        key, sep, val = word.partition("=")
        if sep:
            env[key] = val
    return env


def _unescape_shown(match: re.Match) -> str:
    code = match.group(1)
    return chr(int(code, 8)) if len(code) == 3 else _C_ESCAPES.get(code, code)


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    process: str

    def to_json(self) -> dict:
        return {"address": self.address, "port": self.port, "process": self.process}


def ss_listeners(text: str) -> list[Listener]:
    """`ss -Hltnp` lines -> listeners with the owning process names."""
    found = []
    for line in lines(text):
        parts = line.split()
        if len(parts) < 4:
            continue
        local = parts[3]
        address, _, port = local.rpartition(":")
        if not _NUMBER.fullmatch(port):
            continue
        procs = re.findall(r'\("([^"]+)"', line)
        found.append(Listener(address.strip("[]"), int(port), ",".join(sorted(set(procs)))))
    return found


def key_values(text: str, sep: str = "\t") -> dict[str, str]:
    out = {}
    for line in lines(text):
        key, found, value = line.partition(sep)
        if found:
            out[key] = value
    return out


def json_lines(text: str) -> list[dict]:
    """One JSON object per line (our docker inspect template); unparsable lines are skipped."""
    items = []
    for line in lines(text):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            items.append(value)
    return items


def json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def docker_info(command) -> dict | None:
    """What the running dockerd told `docker info --format '{{json .}}'` (a CommandFact: rc and stdout), or None
    when no daemon answered. Every consumer of the `docker_info` fact reads it through here.

    With dockerd down, the client still prints JSON: 20.10 `{"ServerErrors":[...],"ClientInfo":{...}}`, exit 0;
    26.1 a zero-valued info object (ID "", LoggingDriver "", Swarm.LocalNodeState "") plus ServerErrors, exit 0;
    28.5 the zero-valued object without ServerErrors, exit 1. Read as an answer, its empty values would be
    judged (a false REM-DRIFT, swarm "inactive", 0 containers). A daemon always reports its ID.
    """
    info = json_object(command.stdout) if command.rc == 0 else None
    if info is None or info.get("ServerErrors") or not info.get("ID"):
        return None
    return info


def swarm_state(info: Mapping | None) -> str:
    """The node's swarm state from docker info ("inactive" when it says nothing)."""
    swarm = (info or {}).get("Swarm")
    state = swarm.get("LocalNodeState") if isinstance(swarm, Mapping) else None
    return state if isinstance(state, str) and state else "inactive"


def in_swarm(info: Mapping | None) -> bool:
    """Every state but inactive is swarm: active, pending (joining), error, and locked (an autolocked manager
    after a restart, until `docker swarm unlock`): each refuses live-restore and runs swarm's networking."""
    return swarm_state(info) != "inactive"


def resolved_dirs(text: str) -> dict[str, str]:
    """The `audit_dirs` probe's "DIR<TAB>RESOLVED" lines: each directory as the host resolves it (readlink -m)."""
    out = {}
    for line in lines(text):
        directory, sep, real = line.partition("\t")
        if sep and directory.startswith("/") and real.startswith("/"):
            out[directory] = real
    return out


def canonical_path(path: str, resolved: Mapping[str, str]) -> str:
    """`path` as an audit watch on it sees it: its directory resolved as the host resolves it (`resolved`: the
    nearest resolved ancestor, the rest as written), its last name as written (a watch on a link is on the
    link), without a trailing slash. /lib/systemd/system/docker.service -> /usr/lib/systemd/system/docker.service
    where /lib -> usr/lib; /etc/docker/ -> /etc/docker."""
    path = "/" + posixpath.normpath(path).lstrip("/") if path.startswith("/") else path
    if path == "/" or not path.startswith("/"):
        return path
    directory, _, name = path.rpartition("/")
    directory = directory or "/"
    ancestor = directory
    while ancestor not in resolved:
        if ancestor == "/":
            return path
        ancestor = ancestor.rpartition("/")[0] or "/"
    rest = directory[len(ancestor) :].lstrip("/")
    real = posixpath.join(resolved[ancestor], rest) if rest else resolved[ancestor]
    return posixpath.join(real, name)


def os_release(text: str) -> dict[str, str]:
    out = {}
    for line in lines(text):
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            out[key] = value.strip().strip('"').strip("'")
    return out


def id_ranges(text: str) -> dict[str, list[tuple[int, int]]]:
    """/etc/subuid or /etc/subgid: name -> [(start, count)]."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for line in lines(text):
        parts = line.strip().split(":")
        if len(parts) == 3 and _NUMBER.fullmatch(parts[1]) and _NUMBER.fullmatch(parts[2]):
            ranges.setdefault(parts[0], []).append((int(parts[1]), int(parts[2])))
    return ranges


_RECORDED_NNP = re.compile(r'/containers/([0-9a-f]{64})/config\.v2\.json:"NoNewPrivileges":(true|false)$')


def container_no_new_privileges(text: str) -> dict[str, bool]:
    """Container id -> the no-new-privileges dockerd recorded at its creation (the `containers` probe's grep of
    each config.v2.json, lines beside the inspect JSON)."""
    return {m[1]: m[2] == "true" for line in lines(text) if (m := _RECORDED_NNP.search(line.strip()))}


def images(text: str) -> list[dict]:
    """The `images` probe's image objects (IMAGE_TEMPLATE), each once (an image listed per tag is inspected as
    often)."""
    found: dict[str, dict] = {}
    for item in json_lines(text):
        if isinstance(item.get("Id"), str):
            found.setdefault(item["Id"], item)
    return list(found.values())


_DOCKER_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")


def docker_time(value) -> dt.datetime | None:
    """A time as Docker prints it (RFC 3339 with nanoseconds: 2026-12-02T01:45:46.062776068Z), aware; None
    when it is not one (an image without a creation time says 0001-01-01T00:00:00Z, kept: it is old)."""
    match = _DOCKER_TIME.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return None
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    return dt.datetime.fromisoformat(match.group(1) + zone)


def host_of(address: str) -> str:
    """The host part of "host:port", "[v6]:port" or a bare address, as swarm writes its addresses."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    return address.rpartition(":")[0] if address.count(":") == 1 else address


def container_processes(text: str) -> dict[str, list[tuple[str, str]]]:
    """Container id -> (host pid, name) of the processes the `containers` probe found by name inside it
    ("process<TAB>id<TAB>pid<TAB>name" lines beside the inspect JSON)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for line in lines(text):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 4 and parts[0] == "process" and parts[2].isdigit():
            found.setdefault(parts[1], []).append((parts[2], parts[3]))
    return found
