"""Where config text lives: every file we render or copy comes from templates/."""

from __future__ import annotations

from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def environment(autoescape: bool = False) -> jinja2.Environment:
    """A strict Jinja environment: a missing variable is an error, never an empty string.

    autoescape is for HTML: every value from a host (evidence, file contents) is escaped.
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=autoescape,
    )


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
