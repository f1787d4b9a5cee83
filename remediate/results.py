"""The results document: one JSON object per run, the source of every report.

Format "remediate.results/1" (documented in README.md, "Results document").
It carries no secret: facts never include container environments, and
connection vars (passwords, keys) are never copied into it.

A read-only run (audit, harden --dry-run) settles each host as it ends (settle()): its entry is serialized then,
kept compressed (a few KB), and the host's value drops its facts and effective configuration, which only the
entry needed. Document.write then streams the entries to disk host by host, so a 5,000-host run never holds
every host's facts, nor the whole document as dicts or text.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from remediate import __version__
from remediate.private_files import private_file
from remediate.runner import HostOutcome

FORMAT = "remediate.results/1"


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _dumps(data, indent: int | None = None) -> str:
    """JSON text as the file holds it: a host entry on one line (json's C encoder; with an indent it falls back
    to pure Python, ~1.4 ms a host). ASCII escapes (\\u001b) keep every control character a host sent out."""
    separators = None if indent else (",", ":")
    return json.dumps(data, indent=indent, separators=separators, default=str, ensure_ascii=True)


def _write(head: dict, entry_texts: Iterable[str], path: Path) -> None:
    """The head indented, then one host entry a line (grep and diff find a host's line), written to a private
    temporary file an entry at a time, then renamed."""
    with private_file(path) as out:
        out.write(_dumps({**head, "hosts": []}, indent=1).removesuffix("[]\n}") + "[")
        n = 0
        for n, text in enumerate(entry_texts, 1):
            out.write(("," if n > 1 else "") + "\n  " + text)
        out.write(("\n " if n else "") + "]\n}\n")


class PackedEntry:
    """A host's entry of the document, serialized once and kept zlib-compressed (JSON of a host compresses ~6x)."""

    __slots__ = ("_packed",)

    def __init__(self, data: dict):
        self._packed = zlib.compress(_dumps(data).encode("ascii"), 1)

    def text(self) -> str:
        return zlib.decompress(self._packed).decode("ascii")

    def data(self) -> dict:
        return json.loads(self.text())


def host_entry(outcome: HostOutcome) -> dict:
    """What the document says of one host: how the run went there, then its value's own fields."""
    entry = {
        "host": outcome.host,
        "reachable": outcome.status != "unreachable",
        "status": outcome.status,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
        "round_trips": outcome.round_trips,
    }
    if outcome.ok:
        entry.update(outcome.value.to_json())
    return entry


def settle(outcome: HostOutcome, **keep) -> HostOutcome:
    """The host's outcome once it ended: its entry serialized now, its value keeping only what the terminal and
    the exit code read (the value's settled(**keep)). Only for values nothing changes later (not a harden's apply)."""
    entry = PackedEntry(host_entry(outcome))
    return replace(outcome, value=outcome.value.settled(**keep) if outcome.ok else outcome.value, entry=entry)


def _entry_text(outcome: HostOutcome) -> str:
    return outcome.entry.text() if isinstance(outcome.entry, PackedEntry) else _dumps(host_entry(outcome))


@dataclass
class Document:
    """One run's document: its identity and options, and an entry per host (settled ones already serialized)."""

    kind: str
    run_id: str
    started: dt.datetime
    inventory: str
    pattern: str
    options: dict
    outcomes: list[HostOutcome]
    finished: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def head(self) -> dict:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "run_id": self.run_id,
            "tool": {"name": "remediate", "version": __version__},
            "started": self.started.isoformat(timespec="seconds"),
            "finished": self.finished.isoformat(timespec="seconds"),
            "inventory": self.inventory,
            "pattern": self.pattern,
            "options": self.options,
        }

    def entries(self) -> Iterator[dict]:
        for outcome in self.outcomes:
            yield outcome.entry.data() if isinstance(outcome.entry, PackedEntry) else host_entry(outcome)

    def to_json(self) -> dict:
        """The whole document as dicts (reports, merges): every entry at once, unlike write()."""
        return {**self.head(), "hosts": list(self.entries())}

    def write(self, path: Path) -> None:
        """Like write(), with each settled entry's text as it was serialized when its host ended."""
        _write(self.head(), (_entry_text(o) for o in self.outcomes), path)


def write(doc: dict, path: Path) -> None:
    """A document held as dicts (a merge of several runs)."""
    _write({k: v for k, v in doc.items() if k != "hosts"}, (_dumps(h) for h in doc.get("hosts") or []), path)
