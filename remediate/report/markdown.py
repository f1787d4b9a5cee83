"""The Markdown report, for change tickets: a summary, then per host its diffs in ```diff blocks.

Every `{{ value }}` of the template is host or inventory text unless a filter says otherwise, so the
environment's finalize Markdown-escapes it (neutralise.markdown_text: one line, controls escaped, no raw
HTML, link or code span). The filters return Markup: `cell` is that text with its pipes escaped too (in
a table row), `code` an inline code span and `block` a fenced code block, literal text in a fence the
text cannot close.
"""

from __future__ import annotations

from markupsafe import Markup

from remediate import neutralise
from remediate.report import fleet
from remediate.templates import environment


def render(doc: dict) -> str:
    env = environment()
    env.finalize = _finalize
    env.filters["cell"] = cell
    env.filters["code"] = code
    env.filters["block"] = block
    return env.get_template("report/report.md.j2").render(view=fleet.build(doc))


def _finalize(value):
    return value if isinstance(value, Markup) else neutralise.markdown_text(value)


def cell(value) -> Markup:
    """Text in a table cell: escaped like every value, and its pipes too, so it stays one cell."""
    return Markup(neutralise.markdown_text(value, in_table=True))


def code(value, in_table: bool = False) -> Markup:
    """An inline code span of the value (a path, a run id, an option)."""
    return Markup(neutralise.markdown_code(value, in_table))


def block(text, info: str = "") -> Markup:
    """A fenced code block of the text (a diff), with the info string (the language) after the fence."""
    return Markup(neutralise.markdown_block(text, info))


def fence(text: str) -> str:
    """A code fence longer than any run of backticks in the text, so file contents cannot close it."""
    return neutralise.backtick_fence(text, 3)
