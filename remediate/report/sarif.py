"""SARIF 2.1.0: one run, one rule per check, one result per finding, located in the host's file.

Location (README "Reports"): GitHub code scanning accepts absolute `file:`
URIs (it keeps those outside the checkout as they are) and rejects an upload
whose absolute URIs use another scheme than the checkout root's, so a
`remediate://HOST/...` URI would be refused. Each result therefore points at
the file on the host as `file:///etc/docker/daemon.json` with the line from
the evidence when it names one, the host is in the result's message, its
location message and `properties.host`, and
`partialFingerprints.primaryLocationLineHash` is derived from host, check and
file, so the same file on two hosts is two alerts and a finding keeps its
identity from run to run.

The file is: the first `/path:line[:column]` in the evidence; else a path an
evidence line starts with (file-mode checks); else by concern: the audit rules
file for auditd checks, /var/lib/docker/containers for container checks; else
the first path the evidence names; else the host's daemon.json.

Findings are fail, error and warn results (levels: critical/high -> error,
medium -> warning, low/info -> note; error -> error; warn -> note) and waived
ones, which carry a SARIF suppression with the waiver's reason and expiry.
Unreachable and failed hosts are tool execution notifications.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from remediate import neutralise
from remediate.checks.model import ERROR, FAIL, WAIVED, WARN
from remediate.plan.auditd_rules import RULES_PATH
from remediate.report import fleet
from remediate.report.text import say

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINDINGS = (FAIL, ERROR, WARN, WAIVED)
CONTAINERS_DIR = "/var/lib/docker/containers"
DAEMON_JSON = "/etc/docker/daemon.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub's scale: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
# An absolute path starts a line or follows a space, bracket, quote or "=" (so tcp://0.0.0.0:2375 is none).
_PATH = r"(?<![^\s(\[,'\"=])(/[^\s:;,()\[\]'\"]+)"
_AT_LINE = re.compile(_PATH + r":(\d+)(?::(\d+))?")
_ANY_PATH = re.compile(_PATH)
_MAX_TEXT = 1024  # GitHub's limit for rule descriptions


def render(doc: dict) -> str:
    """JSON escapes C0 controls; neutralise.json_text escapes what it leaves raw (C1, bidi controls)."""
    return neutralise.json_text(json.dumps(log(doc), indent=1, ensure_ascii=False)) + "\n"


def log(doc: dict) -> dict:
    view = fleet.build(doc)
    index = {c.id: i for i, c in enumerate(view.columns)}
    results = [
        _result(view, host, r, index[r["id"]])
        for host in view.hosts
        for r in host.results
        if r.get("status") in FINDINGS
    ]
    unreached = [h for h in view.hosts if not h.reached]
    invocation = {
        "executionSuccessful": not unreached,
        "toolExecutionNotifications": [
            {
                "level": "error",
                "message": {"text": say("host_error", h.entry)},
                "properties": {"host": h.name, "status": h.status},
            }
            for h in unreached
        ],
    }
    for key, field in (("startTimeUtc", "started"), ("endTimeUtc", "finished")):
        if doc.get(field):
            invocation[key] = _utc(doc[field])
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "remediate",
                        "version": doc["tool"]["version"],
                        "semanticVersion": doc["tool"]["version"],
                        "rules": [_rule(c, view.guidance.get(c.id)) for c in view.columns],
                    }
                },
                "automationDetails": {"id": f"remediate/{doc['kind']}/{doc.get('run_id') or ''}"},
                "invocations": [invocation],
                "results": results,
                "properties": {
                    "remediate": {
                        "format": doc["format"],
                        "kind": doc["kind"],
                        "run_id": doc.get("run_id"),
                        "inventory": doc.get("inventory"),
                        "pattern": doc.get("pattern"),
                        "hosts": [h.name for h in view.hosts],
                    }
                },
            }
        ],
    }


def location(host: fleet.HostEntry, result: dict) -> tuple[str, int, int]:
    """(absolute path on the host, line, column) where a finding is best shown; 1:1 when no line is known."""
    evidence = result.get("evidence") or []
    for line in evidence:
        match = _AT_LINE.search(line)
        if match:
            return match[1], int(match[2]), int(match[3] or 1)
    for line in evidence:
        match = _ANY_PATH.match(line)
        if match:
            return match[1], 1, 1
    concern = result.get("concern")
    if concern == "audit":
        return RULES_PATH, 1, 1
    if concern == "containers":
        return CONTAINERS_DIR, 1, 1
    for line in evidence:
        match = _ANY_PATH.search(line)
        if match:
            return match[1], 1, 1
    return host.effective.get("daemon_json_path") or DAEMON_JSON, 1, 1


def _rule(column: fleet.Column, guidance) -> dict:
    properties = {
        "tags": ["security", "docker", column.concern] + (["CIS-" + column.id] if guidance and guidance.cis else []),
        "precision": "high",
    }
    if column.severity in _SECURITY_SEVERITY:
        properties["security-severity"] = _SECURITY_SEVERITY[column.severity]
    rule = {
        "id": column.id,
        "name": "".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", column.title))[:255] or column.id,
        "shortDescription": {"text": _clip(column.title)},
        "fullDescription": {"text": _clip(guidance.rationale if guidance else column.title)},
        "help": {"text": say("rule_help", column, guidance), "markdown": say("rule_help_markdown", column, guidance)},
        "defaultConfiguration": {"level": _LEVEL.get(column.severity, "warning")},
        "properties": properties,
    }
    if guidance and guidance.reference.startswith(("http://", "https://")):
        rule["helpUri"] = guidance.reference
    return rule


def _result(view: fleet.FleetView, host: fleet.HostEntry, r: dict, rule_index: int) -> dict:
    path, line, column = location(host, r)
    uri = "file://" + path
    status = r["status"]
    level = "error" if status == ERROR else "note" if status == WARN else _LEVEL.get(r.get("severity") or "", "warning")
    fingerprint = hashlib.sha256(f"{host.name}\0{r['id']}\0{uri}".encode()).hexdigest()[:16]
    result = {
        "ruleId": r["id"],
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level,
        "message": {"text": say("result_message", host.name, r)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line, "startColumn": column, "endLine": line, "endColumn": column + 1},
                },
                "message": {"text": say("location_message", host.name)},
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": f"{fingerprint}:1"},
        "properties": {
            "host": host.name,
            "status": status,
            "severity": r.get("severity"),
            "cis": r.get("cis"),
            "evidence": list(r.get("evidence") or []),
        },
    }
    if r.get("waiver"):
        w = r["waiver"]
        result["properties"]["waiver"] = w
        if status == WAIVED:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": say("waiver_justification", w)}
            ]
    return result


def _utc(stamp: str) -> str:
    when = dt.datetime.fromisoformat(stamp)
    when = when.astimezone(dt.UTC) if when.tzinfo else when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
