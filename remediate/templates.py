"""Where config text lives: every file we render or copy comes from templates/."""

from __future__ import annotations

from functools import cache

import jinja2

from remediate.shipped import TEMPLATES_DIR

__all__ = ["TEMPLATES_DIR", "environment", "render"]


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


@cache
def _shared() -> jinja2.Environment:
    """One environment for render(): Jinja compiles each template once per run, not once per host and file."""
    return environment()


def render(name: str, **context) -> str:
    return _shared().get_template(name).render(**context)
