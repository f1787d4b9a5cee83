"""The Markdown report, for change tickets: a summary, then per host its diffs in ```diff blocks."""

from __future__ import annotations

import re

from remediate.report import fleet
from remediate.templates import environment


def render(doc: dict) -> str:
    env = environment()
    env.filters["cell"] = cell
    env.filters["fence"] = fence
    return env.get_template("report/report.md.j2").render(view=fleet.build(doc))


def cell(value) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def fence(text: str) -> str:
    """A code fence longer than any run of backticks in the text, so file contents cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text or "")), default=0)
    return "`" * max(3, longest + 1)
