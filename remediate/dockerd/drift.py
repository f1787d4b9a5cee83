"""Where the running dockerd differs from what its files now say: a restart (or reload) is pending.

Two views of the running daemon: its command line (/proc/PID/cmdline), which
shows every flag, and `docker info`, which shows a few settings whatever set
them. Settings neither shows (icc, userland-proxy, no-new-privileges...)
cannot be compared; log-level only through the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .flags import CommandLine, normalize_mirror
from .options import RELOADABLE
from .problems import Source, to_jsonable
from .setting import Setting

LIVE_CMDLINE = "running dockerd command line"
_LOCAL_INSECURE = {"127.0.0.0/8", "::1/128"}


@dataclass(frozen=True)
class Drift:
    key: str
    configured: Any
    running: Any
    configured_source: Source | None
    evidence: str
    reloadable: bool
    message: str

    def to_dict(self) -> dict:
        return {k: to_jsonable(v) for k, v in self.__dict__.items()}


def _security_options(info: dict) -> dict[str, dict[str, str]]:
    """{"seccomp": {"profile": "default"}, "userns": {}, ...} from SecurityOptions."""
    out = {}
    for entry in _strings(info.get("SecurityOptions")):
        fields = dict(part.partition("=")[::2] for part in str(entry).split(","))
        if "name" in fields:
            out[fields.pop("name")] = fields
    return out


def _seccomp_running(configured: str, running: str) -> bool:
    """Whether `docker info`'s seccomp profile label matches the configured profile."""
    if configured in ("", "default", "builtin"):
        return running in ("default", "builtin")
    if configured == "unconfined":
        return running == "unconfined"
    return running in (configured, "custom")


def _insecure_running(info: dict) -> set[str]:
    registry = info.get("RegistryConfig") or {}
    cidrs = set(_strings(registry.get("InsecureRegistryCIDRs"))) - _LOCAL_INSECURE
    indexes = registry.get("IndexConfigs")
    names = {
        name
        for name, index in (indexes.items() if isinstance(indexes, dict) else ())
        if isinstance(index, dict) and index.get("Secure") is False
    }
    return cidrs | names


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# daemon.json keys `docker info` reports as they are, under its own field name
_SAME_IN_INFO = (
    ("debug", "Debug"),
    ("live-restore", "LiveRestoreEnabled"),
    ("experimental", "ExperimentalBuild"),
    ("log-driver", "LoggingDriver"),
)


def _info_views(settings: dict[str, Setting], info: dict):
    """(key, configured, running, label, same) for each setting `docker info` reveals."""
    security = _security_options(info)

    def value(key: str):
        return settings[key].value if key in settings else None

    for key, field in _SAME_IN_INFO:
        if field in info:
            yield key, value(key), info[field], f".{field}", value(key) == info[field]
    if value("storage-driver") and "Driver" in info:
        yield (
            "storage-driver",
            value("storage-driver"),
            info["Driver"],
            ".Driver",
            value("storage-driver") == info["Driver"],
        )
    if "SecurityOptions" in info:
        remap = bool(value("userns-remap"))
        yield (
            "userns-remap",
            value("userns-remap"),
            "userns" in security,
            ".SecurityOptions name=userns",
            remap == ("userns" in security),
        )
        yield (
            "selinux-enabled",
            value("selinux-enabled"),
            "selinux" in security,
            ".SecurityOptions name=selinux",
            bool(value("selinux-enabled")) == ("selinux" in security),
        )
        if "seccomp" in security:
            profile = security["seccomp"].get("profile", "")
            wanted = value("seccomp-profile") or ""
            yield "seccomp-profile", wanted, profile, ".SecurityOptions name=seccomp", _seccomp_running(wanted, profile)
    registry = info.get("RegistryConfig")
    if isinstance(registry, dict):
        running = sorted(normalize_mirror(m) for m in _strings(registry.get("Mirrors")))
        configured = sorted(normalize_mirror(m) for m in _strings(value("registry-mirrors")))
        yield "registry-mirrors", configured, running, ".RegistryConfig.Mirrors", configured == running
        insecure = sorted(_strings(value("insecure-registries")))
        running = sorted(_insecure_running(info))
        yield "insecure-registries", insecure, running, ".RegistryConfig (insecure)", set(insecure) == set(running)
    plugins = info.get("Plugins")
    if isinstance(plugins, dict) and "Authorization" in plugins:
        # dockerd keeps running while it looks for a missing plugin (and dies later): the list shows it.
        configured = sorted(_strings(value("authorization-plugins")))
        running = sorted(_strings(plugins.get("Authorization")))
        yield ("authorization-plugins", configured, running, ".Plugins.Authorization", configured == running)
    if "Labels" in info:
        labels = sorted(_strings(value("labels")))
        running = sorted(_strings(info.get("Labels")))
        yield "labels", labels, running, ".Labels", labels == running


def _shown(value, limit: int = 200) -> str:
    """A value's repr cut to a readable length: a label of megabytes must not become a megabyte of evidence."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _message(key: str, configured, running, source: Source | None, where: str) -> str:
    pending = "reload (SIGHUP) or restart pending" if key in RELOADABLE else "restart pending"
    origin = f" ({source})" if source else ""
    return (
        f"{key}: configured {_shown(configured)}{origin} but the running dockerd has {_shown(running)} ({where}): "
        f"{pending}"
    )


def find_drift(
    settings: dict[str, Setting], unit: CommandLine, live: CommandLine | None, info: dict | None
) -> list[Drift]:
    drift: list[Drift] = []
    if live is not None:
        for key in dict.fromkeys(unit.keys() + live.keys()):
            configured = unit.value(key) if unit.given(key) else None
            running = live.value(key) if live.given(key) else None
            if configured != running:
                source = unit.given(key)[-1].source if unit.given(key) else None
                drift.append(
                    Drift(
                        key,
                        configured,
                        running,
                        source,
                        LIVE_CMDLINE,
                        False,
                        _message(key, configured, running, source, LIVE_CMDLINE),
                    )
                )
    seen = {d.key for d in drift}
    for key, configured, running, label, same in _info_views(settings, info or {}):
        if same or key in seen:
            continue
        source = settings[key].source if key in settings else None
        evidence = f"docker info {label}"
        drift.append(
            Drift(
                key,
                configured,
                running,
                source,
                evidence,
                key in RELOADABLE,
                _message(key, configured, running, source, evidence),
            )
        )
    return drift
