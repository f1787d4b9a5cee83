"""The host script's journal_error, run alone under sh with a stub journalctl printing lines shaped like those
dockerd 20.10 logs when it refuses to start: the reason, then its shutdown's `error="<nil>"` (which the old grep
showed instead of the reason, in a lab run of test_dockerd_refusing_the_config_rolls_back)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "templates/apply/transaction.sh").read_text()
FUNCTION = re.search(r"^journal_error\(\) \{\n.*?^\}\n", SCRIPT, re.DOTALL | re.MULTILINE).group(0)
REFUSED = (
    'time="2026-12-02T05:10:01Z" level=info msg="Starting up"\n'
    "failed to start daemon: error initializing graphdriver: /etc/hostname is not a directory\n"
    'time="2026-12-02T05:10:01Z" level=info msg="stopping event stream following graceful shutdown" '
    'error="<nil>" module=libcontainerd namespace=moby\n'
)


def journal_error(tmp_path: Path, journal: str) -> str:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (tmp_path / "journal").write_text(journal)
    (stubs / "journalctl").write_text(f"#!/bin/sh\ncat {tmp_path / 'journal'}\n")
    (stubs / "journalctl").chmod(0o755)
    result = subprocess.run(
        ["sh", "-c", FUNCTION + "journal_error"],
        env={"PATH": f"{stubs}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.strip()


def test_the_reason_dockerd_gave_wins_over_a_later_nil_error(tmp_path):
    assert journal_error(tmp_path, REFUSED) == (
        "failed to start daemon: error initializing graphdriver: /etc/hostname is not a directory"
    )


def test_without_that_line_the_last_line_naming_an_error_is_shown(tmp_path):
    journal = 'level=error msg="invalid mirror: unsupported scheme"\nlevel=info msg="done" error="<nil>"\n'
    assert journal_error(tmp_path, journal) == 'level=error msg="invalid mirror: unsupported scheme"'


def test_a_quiet_journal_gives_nothing(tmp_path):
    assert journal_error(tmp_path, 'level=info msg="Starting up"\n') == ""
