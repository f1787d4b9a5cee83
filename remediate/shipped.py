"""Where the files remediate ships live: templates/ and policies/, in a checkout or in an installed package.

The repository keeps them at its top level; a built wheel carries them inside the package as
remediate/_data/<name> (setup.py copies them at build time). The packaged copy wins when it exists, so an
installed remediate never reads a checkout it happens to sit beside; an editable install has none and reads
the checkout's.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The directory `name` (templates or policies): the installed package's, else the checkout's."""
    for candidate in (PACKAGE / "_data" / name, PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(
        f"remediate is installed without its {name}/ (neither {PACKAGE / '_data' / name} "
        f"nor {PACKAGE.parent / name} exists): reinstall it from a wheel or a checkout"
    )


TEMPLATES_DIR = shipped_dir("templates")
POLICIES_DIR = shipped_dir("policies")
