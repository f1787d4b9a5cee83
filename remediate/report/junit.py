"""JUnit XML: one test suite per host, one test case per check, so any CI shows what fails where.

Mapping (README "Reports"): fail -> <failure type=SEVERITY>, error -> <error>;
waived, not-applicable -> <skipped>; pass, info and warn pass (a warning's
evidence goes to <system-out>). An unreachable or failed host is a suite with
one "connect" case in error. A harden document adds one "harden" case per
reached host: a refused plan or failed validation is a failure, an apply that
failed or rolled back an error, a held-back or skipped apply is skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from remediate import neutralise
from remediate.checks.model import ERROR, FAIL, INFO, NA, WAIVED, WARN
from remediate.report import fleet
from remediate.report.text import say

APPLY_ERRORS = ("failed", "rolled-back")
APPLY_SKIPPED = ("held-back", "skipped")


def render(doc: dict) -> str:
    view = fleet.build(doc)
    root = ET.Element("testsuites", name=f"remediate {doc['kind']} {doc.get('run_id') or ''}".strip())
    for host in view.hosts:
        root.append(_suite(view, host, doc))
    _count(root, root.findall("testsuite"))
    root.set("time", _seconds(sum(float(s.get("time") or 0) for s in root.findall("testsuite"))))
    _scrub(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(view: fleet.FleetView, host: fleet.HostEntry, doc: dict) -> ET.Element:
    suite = ET.Element(
        "testsuite",
        name=host.name,
        hostname=host.name,
        timestamp=doc.get("started") or "",
        time=_seconds(host.entry.get("seconds") or 0),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(host):
        ET.SubElement(props, "property", name=name, value=str(value))
    if not host.reached:
        case = _case(suite, host, "connect", "connection")
        ET.SubElement(case, "error", message=say("host_error", host.entry), type=host.status)
    for r in host.results:
        _check_case(suite, view, host, r)
    if host.plan is not None or host.apply is not None:
        _harden_case(suite, host)
    _count(suite, suite.findall("testcase"))
    return suite


def _check_case(suite: ET.Element, view: fleet.FleetView, host: fleet.HostEntry, r: dict) -> None:
    case = _case(suite, host, f"{r['id']} {r.get('title', '')}".strip(), r.get("concern") or "check")
    detail = say("result_detail", host.name, r, view.guidance.get(r["id"]))
    status = r.get("status")
    if status in (FAIL, ERROR):
        element = ET.SubElement(
            case,
            "failure" if status == FAIL else "error",
            message=(r.get("evidence") or [r.get("title", "")])[-1 if status == ERROR else 0],
            type=r.get("severity") or status,
        )
        element.text = detail
    elif status in (WAIVED, NA):
        ET.SubElement(case, "skipped", message=say("skipped_message", r))
    elif status in (WARN, INFO):
        ET.SubElement(case, "system-out").text = detail


def _harden_case(suite: ET.Element, host: fleet.HostEntry) -> None:
    case = _case(suite, host, "harden", "harden")
    text = say("harden_summary", host)
    plan, validation, apply = host.plan or {}, host.validation, host.apply or {}
    outcome = apply.get("outcome")
    if outcome in APPLY_ERRORS:
        ET.SubElement(
            case, "error", message=f"apply {outcome}: {apply.get('error') or ''}".strip(), type=outcome
        ).text = text
    elif plan.get("refused") or (validation and not validation.get("ok")) or outcome == "refused":
        ET.SubElement(case, "failure", message=text.splitlines()[0], type="refused").text = text
    elif outcome in APPLY_SKIPPED:
        ET.SubElement(case, "skipped", message=f"apply {outcome}")
    else:
        ET.SubElement(case, "system-out").text = text


def _case(suite: ET.Element, host: fleet.HostEntry, name: str, group: str) -> ET.Element:
    # classname = host.concern: unique across suites for CIs that flatten them (GitLab, Jenkins).
    return ET.SubElement(suite, "testcase", name=name, classname=f"{host.name}.{group}", time="0")


def _properties(host: fleet.HostEntry):
    yield "status", host.status
    if host.reached:
        yield "policy", host.entry.get("policy")
        yield "docker.version", (host.entry.get("docker") or {}).get("version")
        yield "os", host.entry.get("os")
        yield "score", host.score


def _count(element: ET.Element, children: list[ET.Element]) -> None:
    """tests/failures/errors/skipped of a suite (from its cases) or of the root (from its suites)."""
    if element.tag == "testsuite":
        kinds = [next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), None) for case in children]
        totals = {
            "tests": len(children),
            "failures": kinds.count("failure"),
            "errors": kinds.count("error"),
            "skipped": kinds.count("skipped"),
        }
    else:
        totals = {k: sum(int(s.get(k) or 0) for s in children) for k in ("tests", "failures", "errors", "skipped")}
    for key, value in totals.items():
        element.set(key, str(value))


def _scrub(root: ET.Element) -> None:
    """Every text and attribute of the tree made fit for XML 1.0: a host's ESC or NUL would leave a file
    no CI can parse, so what XML cannot hold is shown escaped (neutralise.xml)."""
    for element in root.iter():
        if element.text:
            element.text = neutralise.xml(element.text)
        for name, value in element.attrib.items():
            element.set(name, neutralise.xml(value))


def _seconds(value: float) -> str:
    return f"{float(value):.3f}"
