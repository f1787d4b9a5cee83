"""Which host, group and variable names an inventory may use.

Host and group names end up in paths of backups and reports and in ssh
arguments, so they are restricted to a safe charset (no "/", no spaces, no
leading "-" or "."). Host entries may carry Ansible ranges (web[01:03],
db-[a:c], n[0:10:2]) and a ":port" suffix; IPv6 literals (two or more colons)
are taken verbatim, without ranges or port.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from remediate.errors import InventoryError

MAX_NAME_LENGTH = 253
MAX_RANGE_HOSTS = 10_000

_HOST = re.compile(r"[A-Za-z0-9_:][A-Za-z0-9_.:@-]*")
_GROUP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_PORT = re.compile(r"(.*):([0-9]+)")
_NUMBER = re.compile(r"[0-9]+")

HOST_CHARSET = "letters, digits and _ . : @ - (not starting with . - or @)"
GROUP_CHARSET = "letters, digits and _ . @ - (not starting with . - or @)"


def check_group_name(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise InventoryError(f"{where}: group name {name!r} is not a string; quote it")
    if len(name) > MAX_NAME_LENGTH or not _GROUP.fullmatch(name):
        raise InventoryError(f"{where}: invalid group name {name!r}: use {GROUP_CHARSET}")
    return name


def check_var_name(name: Any, where: str) -> str:
    """Var names must be identifiers, or templates could never reference them."""
    if not isinstance(name, str) or not _VAR.fullmatch(name):
        raise InventoryError(
            f"{where}: invalid variable name {name!r}: use letters, digits and _, not starting with a digit"
        )
    return name


def check_vars(values: dict, where_of: Callable[[Any], str]) -> dict:
    """Validate every key of a vars mapping; `where_of(key)` locates a key for errors."""
    for key in values:
        check_var_name(key, where_of(key))
    return values


def expand_host(spec: Any, where: str) -> tuple[list[str], int | None]:
    """Host names a host entry declares, and the port given with ":port" (an int)."""
    if not isinstance(spec, str):
        raise InventoryError(f"{where}: host name {spec!r} is not a string; quote it")
    outside = _BRACKETS.sub("", spec)
    if outside.count(":") >= 2:
        if not _IPV6.fullmatch(spec):
            raise InventoryError(f"{where}: invalid IPv6 host {spec!r}")
        return [spec], None
    port = None
    if ":" in outside:
        match = _PORT.fullmatch(spec)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise InventoryError(f"{where}: invalid port in host {spec!r}: expected NAME:1-65535")
        spec, port = match.group(1), int(match.group(2))
    names = _expand_ranges(spec, where)
    for name in names:
        if len(name) > MAX_NAME_LENGTH or not _HOST.fullmatch(name) or not name.strip("."):
            raise InventoryError(f"{where}: invalid host name {name!r}: use {HOST_CHARSET}")
    return names, port


def _expand_ranges(spec: str, where: str) -> list[str]:
    match = _BRACKETS.search(spec)
    if not match:
        if "[" in spec or "]" in spec:
            raise InventoryError(f"{where}: unbalanced bracket in host {spec!r}")
        return [spec]
    head, tail = spec[: match.start()], spec[match.end() :]
    if "[" in head or "]" in head:
        raise InventoryError(f"{where}: unbalanced bracket in host {spec!r}")
    values = _range_values(match.group(0), spec, where)
    tails = _expand_ranges(tail, where)
    if len(values) * len(tails) > MAX_RANGE_HOSTS:
        raise _too_many(spec, where)
    return [head + value + rest for value in values for rest in tails]


def _range_values(bracket: str, spec: str, where: str) -> list[str]:
    """Ansible's range semantics: [01:10] keeps zero padding, [a:f] letters, [1:9:2] a stride."""
    parts = bracket[1:-1].split(":")
    usage = f"{where}: invalid range {bracket} in host {spec!r}: expected [01:10], [a:f] or [1:10:2]"
    if len(parts) not in (2, 3) or not parts[1]:
        raise InventoryError(usage)
    begin, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not _NUMBER.fullmatch(step_text) or int(step_text) == 0:
        raise InventoryError(usage)
    step = int(step_text)
    if _NUMBER.fullmatch(begin) and _NUMBER.fullmatch(end):
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise InventoryError(f"{usage} (zero-padded bounds must have equal width)")
        if int(begin) > int(end):
            raise InventoryError(f"{usage} (start is after end)")
        count = (int(end) - int(begin)) // step + 1
        if count > MAX_RANGE_HOSTS:
            raise _too_many(spec, where)
        return [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise InventoryError(f"{usage} (start is after end)")
        return list(letters[letters.index(begin) : letters.index(end) + 1 : step])
    raise InventoryError(usage)


def _too_many(spec: str, where: str) -> InventoryError:
    return InventoryError(f"{where}: host range {spec!r} expands to more than {MAX_RANGE_HOSTS} hosts")
