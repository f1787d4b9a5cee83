"""The effective dockerd configuration of a host, derived from gathered facts without I/O.

config = EffectiveConfig.build(DockerdInputs(version="20.10.24+dfsg1", ...))
config.values["icc"]          # Setting(value, source, origin)
config.problems               # Conflict, UnknownKey, IgnoredKey, ... with evidence
config.tcp_exposures, config.drift, config.down_reason
"""

from .daemon_json import DaemonJson, parse_daemon_json
from .drift import Drift
from .effective import EffectiveConfig
from .exposures import TcpExposure, TlsState
from .inputs import DockerdInputs
from .journal import DownReason
from .problems import (
    Conflict,
    DuplicateKey,
    FlagError,
    IgnoredKey,
    InvalidValue,
    JsonSyntaxError,
    Problem,
    Source,
    UnitProblem,
    UnknownKey,
    UnreadableConfig,
    UnsupportedForVersion,
    WrongType,
)
from .setting import Setting
from .versions import version_tuple

__all__ = [
    "Conflict",
    "DaemonJson",
    "DockerdInputs",
    "DownReason",
    "Drift",
    "DuplicateKey",
    "EffectiveConfig",
    "FlagError",
    "IgnoredKey",
    "InvalidValue",
    "JsonSyntaxError",
    "Problem",
    "Setting",
    "Source",
    "TcpExposure",
    "TlsState",
    "UnitProblem",
    "UnknownKey",
    "UnreadableConfig",
    "UnsupportedForVersion",
    "WrongType",
    "parse_daemon_json",
    "version_tuple",
]
