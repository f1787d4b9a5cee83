"""Headless Chromium (Debian's chromium package) driven by its command line, for the HTML report tests.

`--dump-dom` prints the DOM after the page's scripts ran; `--enable-logging=stderr
--v=0` prints every console message and uncaught exception as an INFO:CONSOLE
line (chromium does not tell console.error from console.log there, so a test
treats any console line as a failure of a page that logs nothing).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

BINARY = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 120  # seconds; a page that takes longer is a failure, not a wait
_CONSOLE = re.compile(r":CONSOLE(?:\(\d+\))?(?::\d+)?\]\s*(.*)")


@dataclass
class Page:
    dom: str
    console: list[str]


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    argv = [
        BINARY,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    # Its own session, so a hung browser and its helpers are stopped together, by our own process group.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish within {TIMEOUT}s: {' '.join(args)}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def load(url: str, profile: Path) -> Page:
    """The DOM after scripts ran, and every console message the page produced."""
    done = _run(["--dump-dom", url], profile)
    assert done.returncode == 0, done.stderr[-2000:]
    return Page(done.stdout, [m[1] for m in map(_CONSOLE.search, done.stderr.splitlines()) if m])


def screenshot(url: str, path: Path, profile: Path, width: int = 1400, height: int = 2400) -> Path:
    done = _run([f"--screenshot={path}", f"--window-size={width},{height}", "--hide-scrollbars", url], profile)
    assert done.returncode == 0 and path.is_file() and path.stat().st_size > 0, done.stderr[-2000:]
    return path
