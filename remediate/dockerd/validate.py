"""What dockerd refuses, or silently ignores, in its configuration — checked before it is restarted.

The order follows dockerd's own: unknown directives, then flag/file
conflicts (daemon/config/config.go findConfigurationConflicts), then JSON
types (json.Unmarshal into the Config struct), then value checks
(config.Validate and the daemon's start-up checks). Messages are ours; the
engine's own words come from `dockerd --validate` and the journal.
"""

from __future__ import annotations

import json

from remediate.facts.parse import swarm_state

from .daemon_json import DaemonJson
from .flags import CommandLine
from .hosts import HostError, parse_daemon_host
from .options import FLAT_OBJECTS, MERGED, SKIP_VALIDATION, Option, ignored_instead, key_kind
from .problems import Conflict, IgnoredKey, InvalidValue, Problem, Source, UnknownKey, UnsupportedForVersion, WrongType
from .setting import Setting
from .versions import KeyTable, Version, version_label


def directives(doc: DaemonJson) -> dict[str, tuple[object, Source, str]]:
    """The keys dockerd checks, with value, source and top-level key: members of non-flat objects are lifted."""
    out: dict[str, tuple[object, Source, str]] = {}
    for key, value in (doc.values or {}).items():
        if isinstance(value, dict) and key not in FLAT_OBJECTS:
            for member, inner in value.items():
                out[member] = (inner, doc.source(key, member), key)
        else:
            out[key] = (value, doc.source(key), key)
    return out


def check_keys(
    doc: DaemonJson, options: tuple[Option, ...], column: int | None, version: Version | None
) -> list[Problem]:
    """Unknown, unsupported-in-this-release and silently ignored keys."""
    table = KeyTable.load()
    recognised = {o.flag for o in options} | {o.key for o in options} | SKIP_VALIDATION
    found = directives(doc)
    unknown = sorted(k for k in found if k not in recognised)
    problems: list[Problem] = []
    reported: set[str] = set()
    for key in unknown:
        _, source, top = found[key]
        name = key if table.known(key) or not table.known(top) else top
        if name in reported:
            continue
        reported.add(name)
        releases = table.releases_with(name)
        if releases and column is not None:
            problems.append(
                UnsupportedForVersion(
                    message=f"{source}: {name!r} is not a dockerd {version_label(version)} option (it exists in "
                    f"{', '.join(releases)}); dockerd refuses to start",
                    fatal=True,
                    evidence=(source,),
                    key=name,
                    version=version_label(version),
                    supported_in=tuple(releases),
                )
            )
        else:
            problems.append(
                UnknownKey(
                    message=f"{source}: {key!r} is not a dockerd option; dockerd refuses to start",
                    fatal=True,
                    evidence=(source,),
                    key=key,
                )
            )
    for key in doc.values or {}:
        if key in recognised and key not in SKIP_VALIDATION and not table.valid(key, column):
            instead = ignored_instead(key, options)
            source = doc.source(key)
            problems.append(
                IgnoredKey(
                    message=f"{source}: {key!r} is accepted by dockerd but sets nothing"
                    + (f"; use {instead!r}" if instead else ""),
                    fatal=False,
                    evidence=(source,),
                    key=key,
                    instead=instead,
                )
            )
    return problems


def check_conflicts(doc: DaemonJson, flags: CommandLine) -> list[Conflict]:
    """Directives set both by a flag and in the file — even empty, null or equal: dockerd refuses to start."""
    found = directives(doc)
    conflicts = []
    for name, option in sorted({f.option.flag: f.option for f in flags.flags}.items()):
        if option.key not in found or option.key in MERGED:
            continue
        file_value, file_source, _ = found[option.key]
        flag_sources = tuple(dict.fromkeys(f.source for f in flags.given(option.key)))
        conflicts.append(
            Conflict(
                message=f"{option.key!r} is set both by --{name} ({', '.join(map(str, flag_sources))}) and in "
                f"{file_source}; dockerd refuses to start whatever the values — keep only one",
                fatal=True,
                evidence=(*flag_sources, file_source),
                key=option.key,
                flag_value=flags.value(option.key),
                file_value=file_value,
            )
        )
    return conflicts


_EXPECTED = {
    "bool": "true or false",
    "int": "an integer",
    "string": "a string",
    "bytes": 'a size such as "64m"',
    "list": "a list of strings",
    "map": "an object of string values",
    "ulimits": "an object of ulimit objects",
    "pools": "a list of pool objects",
    "runtimes": "an object of runtime objects",
    "bool-map": "an object of true/false",
    "object": "an object",
}


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds.get(type(value), "null")


def _type_errors(kind: str, value, path: tuple) -> list[tuple[tuple, str]]:
    """(path, expected kind) for every part of `value` Go would refuse to decode; null always decodes."""
    if value is None:
        return []
    scalar = {"bool": bool, "string": str}
    if kind in scalar:
        return [] if isinstance(value, scalar[kind]) else [(path, kind)]
    if kind == "int":
        return [] if isinstance(value, int) and not isinstance(value, bool) else [(path, kind)]
    if kind == "bytes":
        return [] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else [(path, kind)]
    if kind in ("list", "pools"):
        if not isinstance(value, list):
            return [(path, kind)]
        item = "string" if kind == "list" else "object"
        return [e for i, v in enumerate(value) for e in _type_errors(item, v, (*path, i))]
    if not isinstance(value, dict):
        return [(path, kind)]
    member = {"map": "string", "bool-map": "bool", "ulimits": "object", "runtimes": "object"}.get(kind)
    return [e for k, v in value.items() for e in _type_errors(member, v, (*path, k))] if member else []


def check_types(doc: DaemonJson, column: int | None) -> list[WrongType]:
    table = KeyTable.load()
    problems = []
    for key, value in (doc.values or {}).items():
        kind = key_kind(key)
        if kind is None or not table.valid(key, column):
            continue
        for path, expected in _type_errors(kind, value, (key,)):
            got = _json_value_at(value, path[1:])
            name = key + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])
            source = doc.source(*path) if doc.line_of(*path) else doc.source(key)
            problems.append(
                WrongType(
                    message=f"{source}: {name} must be {_EXPECTED[expected]}, not a JSON {_json_kind(got)} "
                    f"({_shown(got)}); dockerd refuses to start",
                    fatal=True,
                    evidence=(source,),
                    key=key,
                    path=name,
                    expected=expected,
                    got=_json_kind(got),
                )
            )
    return problems


def _shown(value) -> str:
    """A JSON value as the file spells it, cut to a readable length."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:80] + "…"


def _json_value_at(value, path: tuple):
    for part in path:
        value = value[part]
    return value


_LOG_LEVELS = {"panic", "fatal", "error", "warn", "info", "debug", "trace"}


def _invalid(setting: Setting, key: str, value, why: str) -> InvalidValue:
    source = setting.source
    where = f"{source}: " if source else ""
    return InvalidValue(message=f"{where}{why}", fatal=True, evidence=(source,) if source else (), key=key, value=value)


def check_values(settings: dict[str, Setting], version: Version | None, live_info: dict | None) -> list[InvalidValue]:
    """Values dockerd refuses once it reads them; unknown release: judged by the strictest one."""
    problems: list[InvalidValue] = []
    major = version[0] if version else None

    def refuse(key: str, value, why: str) -> None:
        problems.append(_invalid(settings[key], key, value, why))

    level = settings["log-level"].value
    if isinstance(level, str) and level:
        accepted = _LOG_LEVELS | ({"warning"} if major is not None and major < 25 else set())
        if level.lower() not in accepted:
            refuse("log-level", level, f"log-level {level!r} is not one of debug, info, warn, error, fatal")

    mirrors = settings["registry-mirrors"].value
    for mirror in mirrors if isinstance(mirrors, list) else []:
        if isinstance(mirror, str) and not mirror.lower().startswith(("http://", "https://")):
            refuse("registry-mirrors", mirror, f"registry mirror {mirror!r} needs http:// or https://")

    hosts = settings["hosts"]
    if hosts.origin == "file" and isinstance(hosts.value, list):
        for host in hosts.value:
            try:
                parse_daemon_host(host if isinstance(host, str) else "")
            except HostError as exc:
                refuse("hosts", host, f"hosts entry {host!r}: {exc}")

    seccomp = settings["seccomp-profile"]
    if seccomp.value == "builtin" and seccomp.origin != "default" and (major is None or major < 23):
        refuse(
            "seccomp-profile",
            "builtin",
            'seccomp-profile "builtin" is understood from dockerd 23.0; older releases read it '
            "as a file path and refuse to start (leave the key out for the default profile)",
        )

    icc_off = settings["icc"].value is False
    if icc_off and settings["iptables"].value is False:
        refuse("icc", False, "icc false needs iptables: with iptables false as well dockerd refuses to start")
    ip6tables = settings["ip6tables"].value
    if icc_off and settings["ipv6"].value is True and ip6tables is False and (major is None or major >= 27):
        refuse(
            "icc",
            False,
            "icc false needs ip6tables when ipv6 is on (dockerd 27.0 and later refuse to start "
            "with ip6tables false; `dockerd --validate` does not catch it)",
        )
    if ip6tables is True and settings["experimental"].value is not True and (major is None or major < 27):
        refuse("ip6tables", True, "ip6tables needs experimental true before dockerd 27.0")

    if settings["live-restore"].value is True and swarm_state(live_info) != "inactive":
        refuse(
            "live-restore",
            True,
            "live-restore is incompatible with swarm mode, which this node is in: "
            "dockerd will refuse to start at its next restart",
        )

    exec_opts = settings.get("exec-opts")
    for opt in exec_opts.value if exec_opts and isinstance(exec_opts.value, list) else []:
        name, eq, value = opt.partition("=") if isinstance(opt, str) else ("", "", "")
        if not (eq and name.strip() and value.strip()):
            refuse("exec-opts", opt, f"exec-opt {opt!r} must be formatted 'opt=value'")
    return problems
