"""The results document: one JSON object per run, the source of every report.

Format "remediate.results/1" (documented in README.md, "Results document").
It carries no secret: facts never include container environments, and
connection vars (passwords, keys) are never copied into it.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

from remediate import __version__
from remediate.private_files import private_file
from remediate.runner import HostOutcome

FORMAT = "remediate.results/1"


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def document(
    kind: str,
    run_id: str,
    started: dt.datetime,
    inventory: str,
    pattern: str,
    options: dict,
    outcomes: list[HostOutcome],
) -> dict:
    hosts = []
    for o in outcomes:
        entry = {
            "host": o.host,
            "reachable": o.status != "unreachable",
            "status": o.status,
            "error": o.error,
            "seconds": round(o.seconds, 3),
            "round_trips": o.round_trips,
        }
        if o.ok:
            entry.update(o.value.to_json())
        hosts.append(entry)
    return {
        "format": FORMAT,
        "kind": kind,
        "run_id": run_id,
        "tool": {"name": "remediate", "version": __version__},
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inventory": inventory,
        "pattern": pattern,
        "options": options,
        "hosts": hosts,
    }


def write(doc: dict, path: Path) -> None:
    """Streamed to a private temporary file, then renamed: the text of a 500-host document is never all in
    memory. JSON's ASCII escapes (\\u001b) keep every control character a host sent out of the file."""
    with private_file(path) as out:
        json.dump(doc, out, indent=1, sort_keys=False, default=str, ensure_ascii=True)
        out.write("\n")
