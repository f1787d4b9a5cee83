"""Results documents as report input: load them from disk, and merge several runs into one fleet document.

A fleet too big for one controller is audited in shards (one CI job per
inventory part); merge() turns their documents into the document one run over
the whole fleet would have written, so every report is made the same way.

Merge rules (README "Reports"):
- the documents must have the same format and kind (audit with audit,
  harden with harden);
- hosts are concatenated in argument order; a host that appears more than
  once is kept once, at its first position, with the entry of the LATER run
  (the run that started last; argument order breaks ties), so a re-run shard
  replaces the failed one;
- `merged_from` lists every run that went in (run id, times, inventory,
  pattern, options, tool) with the hosts it contributed and the hosts a later
  run superseded; merging merged documents flattens their runs;
- `run_id` is "merged-" plus a digest of the runs' ids (the same runs always
  give the same id), `started`/`finished` span the runs, `inventory` and
  `pattern` join the distinct values with ",", and `options` keeps the
  options on which every run agrees.

What a merge does not preserve is exactly RUN_IDENTITY and HOST_RUN_FIELDS:
without_run_identity() drops them, and two documents that are equal without
them produce the same reports apart from their headers.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path

from remediate import __version__, results
from remediate.errors import RemediateError

KINDS = ("audit", "harden")
# Top-level fields that name a run rather than describe the hosts.
RUN_IDENTITY = ("run_id", "tool", "started", "finished", "inventory", "pattern", "merged_from")
# Per-host fields that vary from run to run on the same host in the same state.
HOST_RUN_FIELDS = ("seconds",)
_SOURCE_FIELDS = ("run_id", "tool", "started", "finished", "inventory", "pattern", "options")


def load(path: Path) -> dict:
    """A results document from disk, refused with the file's name when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RemediateError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RemediateError(f"{path}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RemediateError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    check(doc, str(path))
    return doc


def check(doc, where: str) -> None:
    """The few properties every renderer relies on (the full contract is docs/results.schema.json)."""
    if not isinstance(doc, dict) or doc.get("format") != results.FORMAT:
        raise RemediateError(f"{where}: not a remediate results document (expected format {results.FORMAT!r})")
    if doc.get("kind") not in KINDS:
        raise RemediateError(f"{where}: unknown kind {doc.get('kind')!r} (expected one of {', '.join(KINDS)})")
    hosts = doc.get("hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, dict) and isinstance(h.get("host"), str) for h in hosts):
        raise RemediateError(f"{where}: 'hosts' must be a list of host entries with a 'host' name")


def sources(doc: dict) -> list[dict]:
    """The runs a document is made of: the runs it merged, or itself."""
    if doc.get("merged_from"):
        return copy.deepcopy(doc["merged_from"])
    source = {key: copy.deepcopy(doc.get(key)) for key in _SOURCE_FIELDS}
    source["hosts"] = [h["host"] for h in doc["hosts"]]
    source["superseded"] = []
    return [source]


def merge(docs: list[dict]) -> dict:
    """One fleet document from several runs or shards (rules in the module docstring)."""
    if not docs:
        raise RemediateError("nothing to merge: no results document given")
    for i, doc in enumerate(docs):
        check(doc, f"document {i + 1}")
    if len(docs) == 1:
        return docs[0]
    kinds = sorted({d["kind"] for d in docs})
    if len(kinds) > 1:
        raise RemediateError(
            f"cannot merge results of different kinds ({' and '.join(kinds)}): "
            "merge audit runs with audit runs, harden runs with harden runs"
        )
    runs = _runs(docs)
    candidates = []  # (host entry, run id) in argument order
    for i, doc in enumerate(docs):
        run_of = {host: src["run_id"] for src in sources(doc) for host in src["hosts"]}
        for entry in doc["hosts"]:
            if entry["host"] not in run_of:
                raise RemediateError(f"document {i + 1}: host {entry['host']!r} is in no run of its merged_from")
            candidates.append((entry, run_of[entry["host"]]))

    winners: dict[str, tuple] = {}
    for position, (entry, run_id) in enumerate(candidates):
        key = (_when(runs[run_id]["started"]), position)
        if entry["host"] not in winners or key >= winners[entry["host"]][0]:
            winners[entry["host"]] = (key, entry, run_id)
    order = list(dict.fromkeys(entry["host"] for entry, _ in candidates))
    for run in runs.values():
        run["superseded"] = sorted(set(run["superseded"]) | {h for h in run["hosts"] if winners[h][2] != run["run_id"]})
        run["hosts"] = [h for h in run["hosts"] if winners[h][2] == run["run_id"]]
    merged_from = sorted(runs.values(), key=lambda r: (_when(r["started"]), r["run_id"] or ""))
    return {
        "format": results.FORMAT,
        "kind": kinds[0],
        "run_id": "merged-" + hashlib.sha256("\n".join(sorted(runs)).encode()).hexdigest()[:12],
        "tool": {"name": "remediate", "version": __version__},
        "started": min((r["started"] for r in merged_from), key=_when),
        "finished": max((r["finished"] for r in merged_from), key=_when),
        "inventory": _join(r["inventory"] for r in merged_from),
        "pattern": _join(r["pattern"] for r in merged_from),
        "options": _common_options([r["options"] or {} for r in merged_from]),
        "hosts": [copy.deepcopy(winners[name][1]) for name in order],
        "merged_from": merged_from,
    }


def without_run_identity(doc: dict) -> dict:
    """The document without what names its run: what a merge must reproduce exactly."""
    out = {k: copy.deepcopy(v) for k, v in doc.items() if k not in RUN_IDENTITY}
    out["hosts"] = [{k: v for k, v in h.items() if k not in HOST_RUN_FIELDS} for h in out["hosts"]]
    return out


def _runs(docs: list[dict]) -> dict[str, dict]:
    """Every run in the documents, by run id; the same run given twice counts once."""
    runs: dict[str, dict] = {}
    for doc in docs:
        for src in sources(doc):
            if src["run_id"] in runs:
                known = runs[src["run_id"]]
                known["hosts"] = list(dict.fromkeys(known["hosts"] + src["hosts"]))
                known["superseded"] = sorted(set(known["superseded"]) | set(src.get("superseded", [])))
            else:
                src.setdefault("superseded", [])
                runs[src["run_id"]] = src
    return runs


def _when(stamp: str | None) -> dt.datetime:
    """A run's start as a comparable instant (a missing or naive time sorts as UTC / earliest)."""
    if not stamp:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    when = dt.datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _join(values) -> str:
    return ",".join(dict.fromkeys(v for v in values if v))


def _common_options(options: list[dict]) -> dict:
    first = options[0]
    return {k: copy.deepcopy(v) for k, v in first.items() if all(k in o and o[k] == v for o in options[1:])}
