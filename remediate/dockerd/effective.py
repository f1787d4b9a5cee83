"""The effective dockerd configuration of one host: every setting with its source, and what is wrong.

A derived fact: built only from DockerdInputs, with no I/O. Settings come from
dockerd's defaults for the host's release, then daemon.json, then the
command line systemd builds (ExecStart= with $DOCKER_OPTS & co expanded).
When a key is both a flag and a file key dockerd refuses to start (a Conflict
problem); `values` then shows the flag's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from .daemon_json import DaemonJson, parse_daemon_json
from .drift import Drift, find_drift
from .exposures import TcpExposure, TlsState, api_socket_paths, tcp_exposures, tls_state
from .flags import CommandLine, parse_flags
from .inputs import DockerdInputs
from .journal import DownReason, down_reason
from .options import defaults, options_for
from .problems import InvalidValue, Problem, Source, UnitProblem, UnreadableConfig, to_jsonable
from .setting import Setting
from .systemd import Arg, EnvValue, resolve_environment, systemd_command
from .validate import check_conflicts, check_keys, check_types, check_values
from .versions import KeyTable, Version, version_tuple

LIVE_SOURCE = Source("/proc/<dockerd>/cmdline", via="running dockerd")


def _file_settings(doc: DaemonJson, column: int | None) -> dict[str, Setting]:
    table = KeyTable.load()
    return {
        key: Setting(value, doc.source(key), "file")
        for key, value in (doc.values or {}).items()
        if table.valid(key, column)
    }


def _flag_settings(flags: CommandLine, known: set[str]) -> dict[str, Setting]:
    table = KeyTable.load()
    return {
        key: Setting(flags.value(key), flags.given(key)[-1].source, "flag")
        for key in flags.keys()  # noqa: SIM118 — a CommandLine, not a dict: keys() lists its flags
        if key in known or table.known(key)
    }


def _tls_settings(values: dict[str, Setting], env: dict[str, EnvValue]) -> None:
    """DOCKER_TLS_VERIFY defaults tlsverify to true; any tlsverify at all turns TLS on."""
    verify_env = env.get("DOCKER_TLS_VERIFY")
    if values["tlsverify"].origin == "default" and verify_env and verify_env.value:
        values["tlsverify"] = Setting(True, verify_env.source, "environment")
    verify = values["tlsverify"]
    if verify.origin != "default" and values["tls"].value is not True:
        values["tls"] = Setting(True, verify.source, verify.origin)


def _missing_config_file(flags: CommandLine, inputs: DockerdInputs) -> list[Problem]:
    given = flags.given("config-file")
    if not given:
        return []
    path = given[-1].value
    if path != inputs.daemon_json_path:
        return [
            UnitProblem(
                message=f"{given[-1].source}: dockerd reads --config-file {path}, "
                f"but the facts hold {inputs.daemon_json_path}: "
                "the file analysed here is not the one dockerd reads",
                fatal=False,
                evidence=(given[-1].source,),
                detail="config-file-mismatch",
            )
        ]
    if inputs.daemon_json is None:
        return [
            InvalidValue(
                message=f"{given[-1].source}: --config-file {path} does not exist; dockerd refuses to start "
                "(without --config-file a missing file is fine)",
                fatal=True,
                evidence=(given[-1].source,),
                key="config-file",
                value=path,
            )
        ]
    return []


def _unread_config(inputs: DockerdInputs) -> list[Problem]:
    """A daemon.json that exists but was not analysed: a directory stops dockerd; anything else is unknown."""
    path, why = inputs.daemon_json_path, inputs.daemon_json_unread
    if why is None:
        return []
    evidence = (Source(path),)
    if why == "dir":
        return [
            UnreadableConfig(
                message=f"{path} is a directory, not a file: dockerd refuses to start with it",
                fatal=True,
                evidence=evidence,
                detail="dir",
            )
        ]
    what = "is not a regular file" if why == "other" else f"was not read ({why})"
    return [
        UnreadableConfig(
            message=f"{path} {what}: its settings are not analysed, and every daemon check here assumes it is empty",
            fatal=False,
            evidence=evidence,
            detail="other" if why == "other" else "unread",
        )
    ]


@dataclass(frozen=True)
class EffectiveConfig:
    version: str | None
    version_tuple: Version | None
    key_table: str | None  # the release column of the key table used; None: all releases
    # the file analysed, as the facts derived it (facts.dockerd_inputs.daemon_json_path: --config-file, or the
    # default); a --config-file naming another is a config-file-mismatch problem
    daemon_json_path: str
    daemon_json: DaemonJson
    argv: tuple[Arg, ...]  # dockerd's arguments as systemd passes them
    command_line: CommandLine
    values: dict[str, Setting]
    problems: tuple[Problem, ...]
    tcp_exposures: tuple[TcpExposure, ...]
    tls: TlsState
    drift: tuple[Drift, ...]
    down_reason: DownReason | None
    unix_sockets: tuple[str, ...] = ()  # every unix socket of the API (exposures.api_socket_paths)

    @classmethod
    def build(cls, inputs: DockerdInputs) -> EffectiveConfig:
        version = version_tuple(inputs.version)
        table = KeyTable.load()
        column = table.column_for(version)
        options = options_for(column, version)

        env, env_problems = resolve_environment(inputs.environment, inputs.environment_files)
        command = systemd_command(inputs.exec_start, inputs.exec_start_source, env)
        problems: list[Problem] = list(env_problems) + list(command.problems)
        if command.argv0 and not command.is_dockerd:
            problems.append(
                UnitProblem(
                    message=f"{inputs.exec_start_source}: ExecStart runs {command.argv0}, not dockerd: "
                    "its flags are not analysed",
                    fatal=False,
                    evidence=(Source(inputs.exec_start_source, via="ExecStart"),),
                    detail="not-dockerd",
                )
            )
        flags = parse_flags(list(command.args) if command.is_dockerd else [], options)
        problems += flags.problems
        problems += _missing_config_file(flags, inputs)

        doc = parse_daemon_json(inputs.daemon_json, inputs.daemon_json_path, version)
        problems += _unread_config(inputs)
        problems += doc.problems
        problems += check_keys(doc, options, column, version)
        problems += check_conflicts(doc, flags)
        problems += check_types(doc, column)

        base = defaults(version)
        values = {key: Setting(value, None, "default") for key, value in base.items()}
        values.update(_file_settings(doc, column))
        values.update(_flag_settings(flags, set(base)))
        _tls_settings(values, env)
        problems += check_values(values, version, inputs.live_info)

        tls = tls_state(values, env["DOCKER_CERT_PATH"].value if "DOCKER_CERT_PATH" in env else None)
        exposures = tcp_exposures(flags.given("hosts"), doc, inputs.socket_listen, inputs.socket_listen_source, tls)
        live = None
        if inputs.live_cmdline:
            live = parse_flags([Arg(a, LIVE_SOURCE) for a in inputs.live_cmdline[1:]], options)
        drift = find_drift(values, flags, live, inputs.live_info) if (live or inputs.live_info) else []

        return cls(
            version=inputs.version,
            version_tuple=version,
            key_table=table.label(column),
            daemon_json_path=inputs.daemon_json_path,
            daemon_json=doc,
            argv=command.args,
            command_line=flags,
            values=values,
            problems=tuple(problems),
            tcp_exposures=tuple(exposures),
            tls=tls,
            drift=tuple(drift),
            down_reason=down_reason(inputs.active_state, inputs.journal),
            unix_sockets=api_socket_paths(flags.given("hosts"), doc, inputs.socket_listen),
        )

    def value(self, key: str, default=None):
        setting = self.values.get(key)
        return setting.value if setting else default

    @property
    def fatal_problems(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @property
    def would_start(self) -> bool:
        """Whether dockerd would start with the configuration on disk (as far as files tell)."""
        return not self.fatal_problems

    @property
    def predicted_error(self) -> str | None:
        """Why dockerd would refuse to start if (re)started now: the first fatal problem, in our words."""
        first = next(iter(self.fatal_problems), None)
        return first.message if first else None

    @property
    def effective_log_level(self) -> str:
        """debug: true overrides log-level."""
        return "debug" if self.value("debug") is True else str(self.value("log-level"))

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "version_tuple": list(self.version_tuple) if self.version_tuple else None,
            "key_table": self.key_table,
            "daemon_json_path": self.daemon_json_path,
            "daemon_json": self.daemon_json.to_dict(),
            "argv": [{"text": a.text, "source": a.source.to_dict()} for a in self.argv],
            "flags": to_jsonable(self.command_line.flags),
            "values": to_jsonable(self.values),
            "effective_log_level": self.effective_log_level,
            "problems": to_jsonable(self.problems),
            "would_start": self.would_start,
            "predicted_error": self.predicted_error,
            "tcp_exposures": to_jsonable(self.tcp_exposures),
            "tls": self.tls.to_dict(),
            "drift": to_jsonable(self.drift),
            "down_reason": to_jsonable(self.down_reason),
            "unix_sockets": list(self.unix_sockets),
        }
