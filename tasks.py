"""remediate's command line in a checkout: `invoke --list` shows the tasks; `invoke --help TASK` explains every option.

The tasks live in remediate/cli.py, which also builds the installed `remediate` program from them; here relative
defaults (inventories/NAME.yml, inventories/lab.yml, reports/lab, tests/) resolve against this checkout.
"""

from __future__ import annotations

from pathlib import Path

from remediate.cli import (
    audit,
    bench,
    collection,
    demo,
    facts,
    harden,
    lab_down,
    lab_ssh,
    lab_status,
    lab_up,
    report,
    rollback,
    test,
    unlock,
)

__all__ = [
    "audit",
    "bench",
    "demo",
    "facts",
    "harden",
    "lab_down",
    "lab_ssh",
    "lab_status",
    "lab_up",
    "namespace",
    "report",
    "rollback",
    "test",
    "unlock",
]

namespace = collection(Path(__file__).resolve().parent)
