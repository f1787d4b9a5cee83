"""The host facts the dockerd model reads: plain values, however they were gathered."""

from __future__ import annotations

from dataclasses import dataclass, field

from .daemon_json import DEFAULT_PATH


@dataclass(frozen=True)
class DockerdInputs:
    version: str | None  # `dockerd --version` (or the package version); None: no dockerd
    daemon_json_path: str = DEFAULT_PATH  # the file read into daemon_json
    daemon_json: bytes | None = None  # raw bytes; None: the file does not exist (or see below)
    daemon_json_unread: str | None = None  # it exists but was not read: "dir", "other", or why not
    exec_start: list[str] = field(
        default_factory=list
    )  # ExecStart= lines in unit order ("" resets), or `systemctl show` values
    exec_start_source: str = "/lib/systemd/system/docker.service"  # the unit file or drop-in the ExecStart comes from
    environment: dict[str, str] = field(default_factory=dict)  # Environment= of docker.service
    environment_files: dict[str, bytes | None] = field(
        default_factory=dict
    )  # EnvironmentFile= path -> bytes, in unit order
    socket_listen: list[str] = field(default_factory=list)  # docker.socket ListenStream= values
    socket_listen_source: str = "/lib/systemd/system/docker.socket"
    live_cmdline: list[str] | None = None  # /proc/PID/cmdline of the running dockerd (argv[0] first)
    live_info: dict | None = None  # `docker info --format '{{json .}}'`; None: no answer
    active_state: str = "active"  # docker.service ActiveState
    journal: tuple[str, ...] = ()  # last lines of `journalctl -u docker`, blank ones left out
