"""`--shard K/N`: the part of the matched hosts one of N machines works on (README "Sharding").

A host's shard comes from its name alone (sha256 of the name, mod N), so it lands in the same shard whatever the
inventory's order and whichever other hosts match; every host is in exactly one of the N shards. K counts from 1
(`--shard 1/3` … `--shard 3/3`, as a CI matrix counts). `--shard auto/N` takes K from JOB_COMPLETION_INDEX, the
0-based index Kubernetes gives each pod of an Indexed Job: index 0 is shard 1/N.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from remediate.errors import InventoryError

INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
_SPEC = re.compile(r"\s*(auto|\d+)\s*/\s*(\d+)\s*")


class Named(Protocol):
    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=Named)


class ShardError(InventoryError):
    """A --shard value that names no shard: a user error, reported like a bad host pattern."""


@dataclass(frozen=True)
class Shard:
    number: int  # 1..count
    count: int

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.number

    def select(self, hosts: Sequence[H]) -> list[H]:
        """The hosts of this shard, in their given order (anything with a .name)."""
        return [h for h in hosts if self.holds(h.name)]


def shard_of(name: str, count: int) -> int:
    """The 1-based shard of a host name among `count`: stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count + 1


def parse_shard(text: str, environ: Mapping[str, str] = os.environ) -> Shard:
    """'K/N' (1 <= K <= N) or 'auto/N' (K = JOB_COMPLETION_INDEX + 1); anything else is a ShardError."""
    match = _SPEC.fullmatch(text)
    if not match:
        raise ShardError(f"--shard {text!r}: give K/N (shard K of N, counted from 1, e.g. 2/5) or auto/N")
    count = int(match[2])
    if count < 1:
        raise ShardError(f"--shard {text!r}: N must be at least 1")
    if match[1] == "auto":
        index = environ.get(INDEX_VARIABLE, "")
        if not index.strip().isdigit():
            raise ShardError(
                f"--shard {text!r}: auto takes the shard from ${INDEX_VARIABLE} (set by a Kubernetes Indexed Job), "
                f"which is {'not set' if not index else repr(index) + ', not a number'}"
            )
        number = int(index) + 1
        if number > count:
            raise ShardError(f"--shard {text!r}: ${INDEX_VARIABLE}={index} is not below N={count}")
        return Shard(number, count)
    number = int(match[1])
    if not 1 <= number <= count:
        raise ShardError(f"--shard {text!r}: K must be between 1 and {count} (shards count from 1)")
    return Shard(number, count)
