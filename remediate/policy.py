"""Policy: what "hardened" means (a profile in policies/), per-host overrides and waivers.

A profile is YAML data (see policies/default.yml for the keys). Inventory vars
refine it per group or host with Ansible's precedence, because they are just
vars: `remediate_profile` (a profile name), `remediate_policy` (a mapping with
the profile's keys, merged over it: `daemon` key by key, lists replaced) and
`remediate_waivers` (a list, added to the profile's).
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import functools
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.dockerd import hardened
from remediate.errors import InventoryError, PolicyError
from remediate.inventory import safe_yaml
from remediate.severity import SEVERITIES
from remediate.shipped import POLICIES_DIR

log = logging.getLogger(__name__)

# An image reference as docker reads one (name[:tag][@digest]); nothing a shell or a list separator could split.
IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?")
# Thresholds of the checks that count or age things (CIS 4.4, 6.1, 6.2, 7.7): section -> key -> default.
THRESHOLDS = {
    "sprawl": {"unused_images": 10, "stopped_containers": 10},
    "images": {"max_age_days": 90},
    "swarm": {"max_node_cert_days": 90},
}
KEYS = {
    "name",
    "extends",
    "daemon",
    "advisory",
    "skip",
    "severity",
    "hold_back",
    "waivers",
    "verify_image",
    "auditd_data_dirs",
    *THRESHOLDS,
}
# Keys renamed since profiles were first written (old -> new): the old name still works and says so, once per place.
RENAMED_KEYS = {"audit_data_dirs": "auditd_data_dirs"}
WAIVER_KEYS = {"check", "hosts", "reason", "expires"}
# auditd_data_dirs: whether harden adds CIS 1.1.4/1.1.5's auditd watches on /run/containerd and the data root. A
# `-w DIR` watch is recursive (auditctl(8): the same as -F dir=, the whole subtree): every file a container writes
# under it is an audit record. "none" (the default) adds no watch on them and reports the two checks as warnings.
AUDITD_DATA_DIRS = ("none", "recursive")
DATA_DIR_CHECKS = ("1.1.4", "1.1.5")


@dataclass(frozen=True)
class Waiver:
    check: str
    hosts: str
    reason: str
    expires: dt.date
    source: str

    def applies(self, host_name: str, groups: tuple[str, ...]) -> bool:
        return any(
            fnmatch.fnmatchcase(name, pattern) for pattern in self.hosts.split(",") for name in (host_name, *groups)
        )

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_json(self) -> dict:
        return {
            "check": self.check,
            "hosts": self.hosts,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "source": self.source,
        }


@dataclass(frozen=True)
class Policy:
    name: str
    daemon: dict[str, Any] = field(default_factory=dict)
    advisory: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    severity: dict[str, str] = field(default_factory=dict)
    hold_back: frozenset[str] = frozenset()
    waivers: tuple[Waiver, ...] = ()
    verify_image: str | None = None  # harden starts a container from this local image to verify a change
    auditd_data_dirs: str = "none"  # AUDITD_DATA_DIRS: watch Docker's data directories recursively, or not at all
    thresholds: dict[str, dict[str, int]] = field(default_factory=lambda: {k: dict(v) for k, v in THRESHOLDS.items()})

    def threshold(self, section: str, key: str) -> int:
        return self.thresholds.get(section, {}).get(key, THRESHOLDS[section][key])

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "daemon": self.daemon,
            "advisory": sorted(self.advisory),
            "skip": sorted(self.skip),
            "severity": self.severity,
            "hold_back": sorted(self.hold_back),
            "waivers": [w.to_json() for w in self.waivers],
            "verify_image": self.verify_image,
            "auditd_data_dirs": self.auditd_data_dirs,
            "thresholds": self.thresholds,
        }


def load_profile(name_or_path: str, policies_dir: Path = POLICIES_DIR, _extended_by: tuple[Path, ...] = ()) -> dict:
    """A profile's raw data, with `extends` resolved (the child's keys replace the parent's)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = policies_dir / f"{name_or_path}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in policies_dir.glob("*.yml"))
        raise PolicyError(f"no policy profile {name_or_path!r} (profiles: {', '.join(known)})")
    if path.resolve() in _extended_by:
        chain = " -> ".join(p.stem for p in (*_extended_by, path.resolve()))
        raise PolicyError(f"{_extended_by[-1]}: extends loops back to a profile already being read: {chain}")
    data = _profile_file(path)
    parent = data.get("extends")
    if parent:
        base = load_profile(parent, policies_dir, (*_extended_by, path.resolve()))
        base["waivers"] = base.get("waivers", []) + data.pop("waivers")
        base.update({k: v for k, v in data.items() if k != "extends"})
        return base
    return data


# Parsed profiles by (path, mtime, size): a fleet of hundreds of hosts shares a few profiles, and
# parsing YAML per host cost more controller CPU than planning.
_PARSED: dict[tuple, dict] = {}


def _profile_file(path: Path) -> dict:
    """One profile file, checked (keys, types, waiver keys); a private copy, so callers may change it."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if key not in _PARSED:
        try:
            doc = safe_yaml.load(path)
        except InventoryError as exc:
            raise PolicyError(str(exc)) from None
        data = doc.data or {}
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: a policy profile must be a mapping")
        _check_keys(data, KEYS | RENAMED_KEYS.keys(), lambda key: doc.where(data, key))
        _check_types(data, doc.where)
        data = _renamed(data, lambda key, found=data: doc.where(found, key))
        for waiver in data.get("waivers") or []:
            if isinstance(waiver, dict):
                _check_keys(waiver, WAIVER_KEYS, lambda key, w=waiver: doc.where(w, key))
        data["waivers"] = [
            dict(w, source=doc.where(w, "check")) if isinstance(w, dict) else w for w in data.get("waivers") or []
        ]
        _PARSED[key] = data
    return copy.deepcopy(_PARSED[key])


def policy_for(
    host_vars: dict, profile: str | None = None, extra_waivers: Sequence[dict] = (), policies_dir: Path = POLICIES_DIR
) -> Policy:
    """The effective policy of one host: profile, then the host's inventory overrides, then waivers."""
    data = load_profile(str(host_vars.get("remediate_profile") or profile or "default"), policies_dir)
    # A profile's daemon keys refine the table of hardened keys, where their wanted values live.
    data["daemon"] = {**hardened.policy_defaults(), **(data.get("daemon") or {})}
    overrides = host_vars.get("remediate_policy") or {}
    if not isinstance(overrides, dict):
        raise PolicyError("remediate_policy must be a mapping with the keys of a policy profile")
    _check_keys(overrides, (KEYS | RENAMED_KEYS.keys()) - {"name", "extends"}, lambda key: "remediate_policy")
    _check_types(overrides, lambda _mapping, key: "remediate_policy")
    overrides = _renamed(overrides, lambda key: "remediate_policy")
    for key, value in overrides.items():
        data[key] = {**(data.get(key) or {}), **(value or {})} if key in ("daemon", *THRESHOLDS) else value
    inventory_waivers = host_vars.get("remediate_waivers") or []
    if not isinstance(inventory_waivers, list):
        raise PolicyError(f"remediate_waivers must be a list of waivers, not {_kind(inventory_waivers)}")
    waivers = list(data.get("waivers") or []) + inventory_waivers + list(extra_waivers)
    return build(data, waivers)


POLICY_VARS = ("remediate_profile", "remediate_policy", "remediate_waivers")  # the host vars policy_for reads


def policies_for(hosts, profile: str | None = None) -> dict[str, Policy]:
    """Each host's policy, resolved before any host is touched (a bad one stops the run first); hosts whose policy
    vars are equal share one Policy, so a fleet of thousands holds a few."""
    shared: dict[str, Policy] = {}
    out = {}
    for host in hosts:
        host_vars = dict(host.vars)
        key = json.dumps([host_vars.get(name) for name in POLICY_VARS], sort_keys=True, default=repr)
        if key not in shared:
            shared[key] = policy_for(host_vars, profile)
        out[host.name] = shared[key]
    return out


def build(data: dict, waivers: list) -> Policy:
    severity = data.get("severity") or {}
    for check_id, level in severity.items():
        if level not in SEVERITIES:
            raise PolicyError(f"severity of {check_id}: {level!r} is not one of {', '.join(SEVERITIES)}")
    image = data.get("verify_image")
    if image and not IMAGE_REF.fullmatch(str(image)):
        raise PolicyError(f"verify_image {str(image)!r} is not an image reference (like busybox:latest)")
    data_dirs = data.get("auditd_data_dirs") or "none"
    if data_dirs not in AUDITD_DATA_DIRS:
        raise PolicyError(f"auditd_data_dirs {data_dirs!r} is not one of {', '.join(AUDITD_DATA_DIRS)}")
    # Unwatched on purpose: a warning that says so (remediate.checks.host), never a failure harden leaves behind.
    quiet = DATA_DIR_CHECKS if data_dirs == "none" else ()
    policy = Policy(
        name=str(data.get("name", "custom")),
        daemon=dict(data.get("daemon") or {}),
        advisory=frozenset(str(x) for x in data.get("advisory") or []) | frozenset(quiet),
        skip=frozenset(str(x) for x in data.get("skip") or []),
        severity={str(k): v for k, v in severity.items()},
        hold_back=frozenset(str(x) for x in data.get("hold_back") or []),
        waivers=tuple(_waiver(w) for w in waivers),
        verify_image=str(data["verify_image"]) if data.get("verify_image") else None,
        auditd_data_dirs=data_dirs,
        thresholds=_thresholds(data),
    )
    _check_ids(policy)
    return policy


def _thresholds(data: dict) -> dict[str, dict[str, int]]:
    """THRESHOLDS with the profile's values over them: whole numbers of at least 0, known keys only."""
    out = {section: dict(defaults) for section, defaults in THRESHOLDS.items()}
    for section, defaults in THRESHOLDS.items():
        for key, value in (data.get(section) or {}).items():
            if key not in defaults:
                raise PolicyError(f"{section}: unknown key {key!r} (allowed: {', '.join(sorted(defaults))})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(f"{section}.{key} must be a whole number of at least 0, not {value!r}")
            out[section][key] = value
    return out


def _check_ids(policy: Policy) -> None:
    """A check id the catalogue does not know is a typo that would silently skip, soften or waive nothing."""
    from remediate.checks import catalogue  # the catalogue's predicates import this module

    known = catalogue().keys()
    for key, ids in (("skip", policy.skip), ("advisory", policy.advisory), ("severity", policy.severity)):
        unknown = sorted(i for i in ids if i not in known)
        if unknown:
            raise PolicyError(
                f"policy {policy.name!r}, {key}: no check {', '.join(unknown)} "
                "(ids like 2.9, 1.1.3, REM-TCP; `invoke audit --help` lists the concerns)"
            )
    for waiver in policy.waivers:
        if not any(fnmatch.fnmatchcase(i, waiver.check) for i in known):
            raise PolicyError(
                f"{waiver.source}: the waiver for check {waiver.check!r} matches no check "
                "(ids like 2.9, globs like 1.1.*); it would waive nothing"
            )


def _waiver(raw: Any) -> Waiver:
    source = raw.get("source", "inventory (remediate_waivers)") if isinstance(raw, dict) else "?"
    if not isinstance(raw, dict) or not {"check", "reason", "expires"} <= raw.keys():
        raise PolicyError(f"{source}: a waiver needs check, reason and expires (and optionally hosts): {raw!r}")
    _check_keys(raw, WAIVER_KEYS | {"source"}, lambda key: source)
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise PolicyError(f"{source}: waiver expiry {expires!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(expires, dt.date):
        raise PolicyError(f"{source}: waiver expiry must be a date (YYYY-MM-DD)")
    if not str(raw["reason"]).strip():
        raise PolicyError(f"{source}: a waiver needs a reason")
    return Waiver(
        check=str(raw["check"]),
        hosts=str(raw.get("hosts", "*")),
        reason=str(raw["reason"]),
        expires=expires,
        source=source,
    )


_SHAPES = {
    "name": str,
    "extends": str,
    "verify_image": str,
    "auditd_data_dirs": str,
    "daemon": dict,
    "severity": dict,
    "advisory": list,
    "skip": list,
    "hold_back": list,
    "waivers": list,
    **dict.fromkeys(THRESHOLDS, dict),
}
_SHAPES |= {old: _SHAPES[new] for old, new in RENAMED_KEYS.items()}
_SHAPE_NAMES = {str: "a string", dict: "a mapping", list: "a list"}


def _kind(value: Any) -> str:
    return {
        str: "a string",
        dict: "a mapping",
        list: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _check_types(data: dict, where) -> None:
    """Refuse values of the wrong shape with their place (where(mapping, key)), not as a traceback later.

    daemon values become daemon.json: JSON values only (no dates, no NaN, string keys).
    """
    for key, shape in _SHAPES.items():
        if data.get(key) is not None and not isinstance(data[key], shape):
            raise PolicyError(f"{where(data, key)}: {key} must be {_SHAPE_NAMES[shape]}, not {_kind(data[key])}")
    daemon = data.get("daemon") or {}
    for name, value in daemon.items():
        if not isinstance(name, str):
            raise PolicyError(f"{where(daemon, name)}: daemon key {name!r} is not a string; quote it")
        bad = _not_json(value)
        if bad is not None:
            raise PolicyError(
                f"{where(daemon, name)}: daemon {name}: {bad} cannot be written to daemon.json "
                "(JSON values only: strings, numbers, true/false, null, lists, mappings)"
            )


def _not_json(value: Any) -> str | None:
    """The first part of `value` that is not a finite JSON value, described; None when it all is."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"the number {value}"
    if isinstance(value, list):
        return next((bad for bad in map(_not_json, value) if bad is not None), None)
    if isinstance(value, dict):
        for key, member in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} (not a string)"
            bad = _not_json(member)
            if bad is not None:
                return bad
        return None
    if isinstance(value, dt.date):
        return f"the date {value} (quote it to keep it a string)"
    return f"{_kind(value)} value {value!r}"


def _renamed(data: dict, where) -> dict:
    """data with each old key name (RENAMED_KEYS) under its new one; a warning names the place once per run."""
    for old, new in RENAMED_KEYS.items():
        if old in data:
            if new in data:
                raise PolicyError(f"{where(old)}: {old} is the old name of {new}; give only {new}")
            _warn_once(f"{where(old)}: policy key {old} is now called {new} (same values); please rename it")
            data = {new if key == old else key: value for key, value in data.items()}
    return data


@functools.cache
def _warn_once(message: str) -> None:
    log.warning("%s", message)


def _check_keys(data: dict, allowed: set[str], where) -> None:
    for key in data:
        if key not in allowed:
            raise PolicyError(f"{where(key)}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
