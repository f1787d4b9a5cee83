"""The daemon.json harden writes: the host's own keys, merged with the policy's `daemon:` mapping.

Rules (each one keeps dockerd starting, and keeps what the host's owner set):
- Every key of the host's file is kept with its value, except the ones below.
- Policy values are set; an object value (default-ulimits) is merged member by
  member, the policy's members winning, the host's other members kept.
- A policy `null` means "leave at dockerd's default": the key is removed when
  it holds a non-default value (debug true, insecure-registries non-empty,
  experimental true, iptables false, cgroup-parent set) and kept otherwise.
- A key that is also a dockerd flag on this host is never written: dockerd
  refuses to start when a directive comes from both, even with an empty, null
  or identical value. The policy value is skipped with a note; a key already in
  the file that conflicts with a flag is removed (the flag's value stays,
  which is also what `docker info` shows once dockerd starts).
- `hosts` is removed when the host exposes TCP without TLS client
  verification: the goal is the unix socket only, which the service drop-in
  guarantees with `-H fd://` (never `hosts`: it would conflict with -H).
- `icc: false` only while iptables stays on (dockerd refuses icc=false with
  iptables=false).
- seccomp-profile is never "unconfined" (removed: the default profile applies)
  and never "builtin" before dockerd 23.0 (older releases read it as a file path).
- A key the host's release does not know is not written.
- Held-back and waived keys are left as the host has them.

The result is compared with the host's file *semantically* (strict JSON
equality: true is not 1, 1 is not 1.0): equal means no change and the host's
bytes and formatting stay. Otherwise it is rendered sorted, 2-space indented,
with a trailing newline, so the same settings always give the same bytes.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from remediate.dockerd import hardened
from remediate.dockerd.options import FLAT_OBJECTS, MERGED, defaults
from remediate.dockerd.versions import KeyTable, Version, at_least
from remediate.templates import environment

TEMPLATE = "harden/daemon.json.j2"

# daemon.json key -> the checks its value decides (what a change of that key fixes): the table of hardened keys.
KEY_CHECKS: dict[str, tuple[str, ...]] = hardened.key_checks()
# Keys harden may remove although the policy does not name them.
ALWAYS_MANAGED = frozenset(key for key, entry in hardened.table().items() if not entry.policy)


@dataclass(frozen=True)
class FlagGiven:
    """A directive given on dockerd's command line: its value and where (for notes)."""

    value: Any
    where: str


@dataclass(frozen=True)
class Merge:
    """The desired daemon.json settings and what the merge did. Unpacks as (settings, notes)."""

    settings: dict
    notes: tuple[str, ...] = ()
    written: tuple[str, ...] = ()  # keys set or changed to the policy's value
    removed: tuple[str, ...] = ()  # keys taken out of the file
    skipped: tuple[str, ...] = ()  # policy keys not written (flag, version, icc, held back)
    conflicts: tuple[str, ...] = ()  # file keys removed because a flag sets them

    def __iter__(self):
        yield self.settings
        yield list(self.notes)

    @property
    def changed_keys(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.written) | set(self.removed)))


def json_equal(a: Any, b: Any) -> bool:
    """Equality as dockerd's decoder sees it: bool, int, float, str, null, list and object never mix."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _directives(key: str, value: Any) -> set[str]:
    """What dockerd's conflict check compares with the flags: members of non-flat objects are lifted."""
    if isinstance(value, dict) and key not in FLAT_OBJECTS:
        return set(value)
    return {key}


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def merge_settings(
    existing: Mapping[str, Any],
    wanted: Mapping[str, Any],
    *,
    version: Version | None,
    flags: Mapping[str, FlagGiven] | None = None,
    hold: Collection[str] = (),
    hold_reasons: Mapping[str, str] | None = None,
    remove_hosts: bool = False,
) -> Merge:
    """The pure merge: the host's settings (a parsed daemon.json) and the policy's `daemon:` mapping.

    flags: directives given on the command line that will remain after harden
    (key -> value and where). hold: policy keys to leave as the host has them.
    """
    flags = flags or {}
    hold_reasons = hold_reasons or {}
    out = copy.deepcopy(dict(existing))
    notes: list[str] = []
    written: list[str] = []
    removed: list[str] = []
    skipped: list[str] = []
    conflicts: list[str] = []
    base = defaults(version)
    table = KeyTable.load()
    column = table.column_for(version)

    def remove(key: str, why: str) -> None:
        del out[key]
        removed.append(key)
        notes.append(f"daemon.json: remove {key} ({_show(existing[key])}): {why}")

    for key in sorted(out):
        clash = sorted(d for d in _directives(key, out[key]) if d in flags and d not in MERGED)
        if clash:
            conflicts.append(key)
            where = "; ".join(f"{d} from {flags[d].where}" for d in clash)
            remove(
                key, f"also given as a flag ({where}) and dockerd refuses to start with both; the flag's value stays"
            )

    if remove_hosts and "hosts" in out:
        remove(
            "hosts",
            "the Docker API goes back to the unix socket only (TCP without TLS client verification "
            "is root for anyone who connects); the service keeps -H fd://",
        )

    profile = out.get("seccomp-profile")
    if profile == "unconfined":
        remove(
            "seccomp-profile", "it disables seccomp for every container; without the key the default profile applies"
        )
    elif profile == "builtin" and not at_least(version, 23):
        remove(
            "seccomp-profile",
            'dockerd before 23.0 reads "builtin" as a file path and refuses to start; '
            "without the key the same default profile applies",
        )

    def hold_note(key: str) -> None:
        skipped.append(key)
        notes.append(
            f"daemon.json: {key} left as it is ({_show(out[key]) if key in out else 'unset'}): "
            + hold_reasons.get(key, "held back")
        )

    # Removals first: whether icc can be false depends on iptables being removed.
    for key in sorted(k for k, v in wanted.items() if v is None):
        if key in flags or key not in out or (key in base and json_equal(out[key], base[key])):
            continue
        if key in hold:
            hold_note(key)
            continue
        remove(key, f"the policy leaves {key} at dockerd's default" + (f" ({_show(base[key])})" if key in base else ""))

    def given(key: str):
        return flags[key].value if key in flags else out.get(key)

    iptables_off = given("iptables") is False
    # From 27.0 ip6tables is on by default, and dockerd refuses icc=false with ipv6 on and ip6tables off.
    ip6tables_off = given("ipv6") is True and given("ip6tables") is False and (version is None or at_least(version, 27))
    for key in sorted(k for k, v in wanted.items() if v is not None):
        value = wanted[key]
        new = {**out[key], **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        if key in flags:
            if not json_equal(flags[key].value, value):
                skipped.append(key)
                notes.append(
                    f"daemon.json: {key} not written: it is given as a flag on this host ({flags[key].where}) "
                    f"and dockerd refuses a directive from both; change the flag to {_show(value)} by hand"
                )
            continue
        if json_equal(out.get(key), new):
            continue
        if key in hold:
            hold_note(key)
        elif not table.valid(key, column):
            skipped.append(key)
            notes.append(
                f"daemon.json: {key} not written: dockerd {'.'.join(map(str, version or ())) or '(unknown version)'} "
                "does not know this key"
            )
        elif key == "seccomp-profile" and value == "builtin" and not at_least(version, 23):
            skipped.append(key)
            notes.append(
                'daemon.json: seccomp-profile "builtin" not written: dockerd before 23.0 reads it as a file '
                "path; the default profile applies without the key"
            )
        elif key == "icc" and value is False and (iptables_off or ip6tables_off):
            skipped.append(key)
            which = "iptables" if iptables_off else "ip6tables (with ipv6 on)"
            notes.append(
                f"daemon.json: icc false not written: {which} stays off on this host and dockerd refuses "
                f"icc=false without {which.split()[0]}"
            )
        else:
            out[key] = copy.deepcopy(new)
            written.append(key)
    return Merge(out, tuple(notes), tuple(written), tuple(removed), tuple(skipped), tuple(conflicts))


def command_line_flags(effective, dropped: Collection = ()) -> dict[str, FlagGiven]:
    """The directives the command line gives, minus the flags harden removes (Flag objects in `dropped`)."""
    dropped_ids = {id(f) for f in dropped}
    out: dict[str, FlagGiven] = {}
    line = effective.command_line
    for key in line.keys():  # noqa: SIM118 — a CommandLine, not a dict: keys() lists its flags
        kept = [f for f in line.given(key) if id(f) not in dropped_ids]
        if kept:
            last = kept[-1]
            value = line.value(key) if len(kept) == len(line.given(key)) else _flag_value(kept)
            out[key] = FlagGiven(value, f"{last.written} in {last.source}")
    return out


def _flag_value(flags: list) -> Any:
    from remediate.dockerd.flags import CommandLine

    return CommandLine(tuple(flags), ()).value(flags[0].option.key)


def desired_daemon_json(
    effective,
    policy,
    version: Version | None = None,
    *,
    dropped_flags: Collection = (),
    hold: Collection[str] | None = None,
    accept_risk: Collection[str] = (),
    hold_reasons: Mapping[str, str] | None = None,
    remove_hosts: bool | None = None,
    existing: Mapping[str, Any] | None = None,
) -> Merge:
    """The daemon.json this host should have under `policy`, from its EffectiveConfig.

    hold defaults to the policy's hold_back minus accept_risk. dropped_flags:
    the flags harden removes from the command line (they no longer conflict).
    remove_hosts defaults to "some TCP endpoint lacks TLS client verification".
    existing overrides the file's settings (repair: {}).
    """
    if hold is None:
        hold = set(policy.hold_back) - set(accept_risk)
        hold_reasons = hold_reasons or dict.fromkeys(hold, "held back by the policy (hold_back)")
    if remove_hosts is None:
        remove_hosts = any(e.tls != "tlsverify" for e in effective.tcp_exposures)
    values = effective.daemon_json.values if existing is None else existing
    return merge_settings(
        values or {},
        policy.daemon,
        version=version or effective.version_tuple,
        flags=command_line_flags(effective, dropped_flags),
        hold=hold,
        hold_reasons=hold_reasons,
        remove_hosts=remove_hosts,
    )


def _dumps(value: Any, ascii_only: bool = False) -> str:
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=ascii_only, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"daemon.json holds a number JSON cannot write back ({exc})") from None


def render_daemon_json(settings: Mapping[str, Any]) -> bytes:
    """Stable bytes for `settings`: sorted keys, 2-space indent, trailing newline, UTF-8."""
    template = _template()
    try:
        return template.render(settings=settings, ascii_only=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from a \udXXX escape) cannot be UTF-8: keep it escaped.
        return template.render(settings=settings, ascii_only=True).encode("utf-8")


@cache
def _template():
    """Compiled once per run (hosts render it in parallel; a Template renders thread-safely)."""
    env = environment()
    env.filters["daemon_json"] = _dumps
    return env.get_template(TEMPLATE)
