"""The HTML fleet report: one self-contained file (inline CSS and JS), for people and change reviews."""

from __future__ import annotations

from remediate.report import fleet
from remediate.templates import environment


def render(doc: dict) -> str:
    return environment(autoescape=True).get_template("report/report.html.j2").render(view=fleet.build(doc))
