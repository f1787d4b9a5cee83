"""Who can change the directories on the way to a file: the fact behind "root never acts where a user could
plant a link".

Root's chown, chmod or rename of a path is only as safe as the directories that lead to it: if a user owns
one, or may write to it, they can swap a name in it for a symlink between our check and our step (a TLS
file in a user's home, chowned back through a link to /etc/shadow, is one such attack). The
`dir_chain` probe stats every directory from / to each directory asked about, as written and as resolved
(one `readlink -m`, one `stat`); `dir_safety` judges them with the rule the host's transaction script
enforces again before every step (templates/apply/transaction.sh, unsafe_dir): every directory root's and
writable by root alone, every symlink on the way root's.
"""

from __future__ import annotations

import stat as st
from collections.abc import Iterable
from dataclasses import dataclass

# The directories harden may create files in, asked about even before a file exists there.
CREATED_IN = ("/etc/systemd/system/docker.service.d", "/etc/systemd/system/docker.socket.d", "/etc/audit/rules.d")

# REMEDIATE_DIRS: the directories, one a line. Prints "dir D" per directory asked about, "real R" for what
# it resolves to (same order), then "stat UID RAWMODE NAME" for every directory on the way to either.
DIR_CHAIN_SNIPPET = (
    "set -f; IFS='\n'; set -- $REMEDIATE_DIRS; [ $# -gt 0 ] || exit 0; "
    'c=$(readlink -m -- "$@"); '
    'for d in "$@"; do printf \'dir %s\\n\' "$d"; done; for r in $c; do printf \'real %s\\n\' "$r"; done; '
    'p=; for x in "$@" $c; do while :; do p="$p\n$x"; [ "$x" = / ] && break; x=${x%/*}; [ -n "$x" ] || x=/; '
    "done; done; stat -c 'stat %u %f %n' -- $p 2>/dev/null; true"
)


def parent(path: str) -> str:
    head = path.rstrip("/").rpartition("/")[0]
    return head or "/"


def prefixes(path: str) -> list[str]:
    """/a/b -> ['/a/b', '/a', '/']"""
    out = []
    while True:
        out.append(path)
        if path == "/":
            return out
        path = parent(path)


def dirs_to_ask(paths: Iterable[str]) -> list[str]:
    """The parent directory of every absolute path, each once, in order."""
    return list(dict.fromkeys(parent(p) for p in paths if p.startswith("/")))


@dataclass(frozen=True)
class DirChain:
    """The probe's answer: what each asked directory resolves to, and the owner and mode of every directory
    (or link) on the way."""

    resolved: dict[str, str]
    # name -> every (uid, st_mode) printed for it, sorted: a name holding a newline can add a line, never hide one
    entries: dict[str, tuple[tuple[int, int], ...]]

    def why_unsafe(self, directory: str, tightened: frozenset[str] = frozenset()) -> str | None:
        """Why root must not act in `directory` (the nearest directory asked about, walking up), or None
        when the chain is root's alone or was not probed. `tightened`: directories the plan itself makes
        root's alone before it writes in them."""
        asked = next((d for d in prefixes(directory) if d in self.resolved), None)
        if asked is None:
            return None
        for name in prefixes(asked) + prefixes(self.resolved[asked]):
            if name in tightened or name not in self.entries:
                continue
            for uid, mode in self.entries[name]:
                if uid != 0:
                    return f"{name} is owned by uid {uid}, not root"
                if st.S_ISDIR(mode):
                    if mode & 0o022:
                        return f"{name} is writable by users other than root"
                elif not st.S_ISLNK(mode):
                    return f"{name} is not a directory"
        return None


def parse_dir_chain(text: str) -> DirChain:
    asked: list[str] = []
    real: list[str] = []
    entries: dict[str, set[tuple[int, int]]] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "dir":
            asked.append(rest)
        elif kind == "real":
            real.append(rest)
        elif kind == "stat":
            uid, raw, name = [*rest.split(" ", 2), "", ""][:3]
            try:
                entries.setdefault(name, set()).add((int(uid), int(raw, 16)))
            except ValueError:
                continue
    resolved = dict(zip(asked, real, strict=True)) if len(asked) == len(real) else {}
    return DirChain(resolved, {name: tuple(sorted(found)) for name, found in entries.items()})
