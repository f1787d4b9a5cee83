"""Files remediate writes on the controller: private to the user, never through a link, never half-written.

Results documents, reports and saved facts map the fleet's weaknesses, so every one of them is written
here: write_private() for text or bytes in hand, private_file() for a streaming writer. The data goes to a
new file beside the destination, under an unpredictable name, created with O_CREAT|O_EXCL|O_NOFOLLOW
and mode 0600 (set again with fchmod, so no umask makes it wider or narrower); it is fsynced, then
renamed onto the destination. The rename replaces whatever stands at the destination (a symlink planted
there is replaced, never followed), and a reader sees the old file or the new one, never a part of one.
A name already taken (a link planted where the temporary file would go) is never opened: another name is
drawn.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

MODE = 0o600
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ATTEMPTS = 16


def write_private(path: Path, data: str | bytes) -> None:
    """Write the whole file at once (str as UTF-8), privately and atomically."""
    with private_file(path, binary=isinstance(data, bytes)) as out:
        out.write(data)


@contextlib.contextmanager
def private_file(path: Path, *, binary: bool = False) -> Iterator[IO]:
    """A file object to write the destination's new content to; it replaces the destination when the
    block ends, and is removed (the destination untouched) when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create(path)
    try:
        # A lone surrogate from a host is written as its \\u escape rather than failing the report.
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            os.fchmod(out.fileno(), MODE)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def _create(path: Path) -> tuple[int, Path]:
    """A new file beside the destination that nobody else can have opened, linked or named in advance."""
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, _FLAGS, MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: {_ATTEMPTS} temporary names beside it were all taken")


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every file system lets a directory be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
