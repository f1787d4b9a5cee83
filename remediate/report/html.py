"""The HTML fleet report: one self-contained file (inline CSS and JS), for people and change reviews.

Autoescape HTML-escapes every value; finalize first shows a host's control characters escaped
(neutralise.text_block, newlines and tabs kept), so no bidi control reorders what a reviewer reads and
no escape sequence reaches a terminal that prints the file.
"""

from __future__ import annotations

from markupsafe import Markup

from remediate import neutralise
from remediate.report import fleet
from remediate.templates import environment


def render(doc: dict) -> str:
    env = environment(autoescape=True)
    env.finalize = _finalize
    return env.get_template("report/report.html.j2").render(view=fleet.build(doc))


def _finalize(value):
    return neutralise.text_block(value) if isinstance(value, str) and not isinstance(value, Markup) else value
