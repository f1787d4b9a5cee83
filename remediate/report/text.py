"""The prose of the machine-readable reports, from templates/report/text.j2 (one macro per message)."""

from __future__ import annotations

from functools import cache

from remediate.templates import environment


@cache
def _macros():
    return environment().get_template("report/text.j2").module


def say(macro: str, *args) -> str:
    """One message, stripped of the template's layout whitespace."""
    return str(getattr(_macros(), macro)(*args)).strip()
