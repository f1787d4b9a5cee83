"""The host script and protocol.py agree on what an entry is: the fields of protocol.Record, by name.

The script's reader (read_entry, through each) is run here under every POSIX shell this machine has, on the
arguments protocol.py builds, with a path made of the bytes that would break a less careful record.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from remediate.apply.protocol import Entry, Record, entry_words, script

# A path that splits words, globs, expands, holds the separator itself and ends in a blank.
HOSTILE = "/etc/docker/-n $(reboot) `id` *;'\"\\=index=9 \t.json "
SHELLS = [sh for sh in ("dash", "bash", "busybox") if shutil.which(sh)]


def functions(*names: str) -> str:
    """The script's definitions of these functions, in its own text."""
    text = script()
    parts = []
    for name in names:
        start = text.index(f"\n{name}() {{") + 1
        parts.append(text[start : text.index("\n}\n", start) + 3])
    return "".join(parts)


def run_sh(shell: str, code: str, *args: str) -> subprocess.CompletedProcess:
    argv = ["busybox", "sh"] if shell == "busybox" else [shell]
    return subprocess.run(
        [*argv, "-c", "set -u\nlog=\n" + code, "sh", *args], capture_output=True, timeout=30, check=False
    )


def reader(body: str) -> str:
    words = re.search(r"^ENTRY_WORDS=(\d+) ", script(), re.MULTILINE)
    assert words, "the script declares ENTRY_WORDS"
    return f"ENTRY_WORDS={words[1]}\n" + functions("say", "field", "read_entry", "each") + body


def entry(path: str = HOSTILE, index: int = 7) -> Entry:
    return Entry(path, "write", "absent", "-", "-", "-", "root", "root", "640", b"\x00\xff{}\n", index)


NAMES = [f.name for f in dataclasses.fields(Record)]
SHOW = "show() { printf '%s\\0' " + " ".join(f'"${name}"' for name in NAMES) + "; }\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_reads_every_field_protocol_sends_into_a_local_of_its_name(shell):
    items = [entry(), entry("/etc/docker/daemon.json", 8)]
    leaked = "".join(f'printf "{name}=%s\\0" "${{{name}-unset}}"\n' for name in NAMES)
    result = run_sh(shell, reader(SHOW + 'each show "$@" || exit 1\n' + leaked), *entry_words(items))
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    values = result.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
    sent = [str(getattr(e.record(), name)) for e in items for name in NAMES]
    assert values[: len(sent)] == sent
    assert values[len(sent) :] == [f"{name}=unset" for name in NAMES]  # locals of each: gone once it returns


def test_the_script_counts_an_entry_as_many_arguments_as_record_has_fields():
    assert f"\nENTRY_WORDS={len(NAMES)} " in script()
    assert len(entry().record().args()) == len(NAMES)


@pytest.mark.parametrize("shell", SHELLS)
def test_an_argument_out_of_its_place_or_a_short_entry_is_refused_before_any_step(shell):
    args = entry().record().args()
    swapped = [args[1], args[0], *args[2:]]
    for bad, why in ((swapped, "entry field path expected"), (args[:-1], "an entry has 13 fields")):
        result = run_sh(shell, reader(SHOW + 'each show "$@"\n'), *bad)
        assert result.returncode == 1 and why in result.stdout.decode(), result.stdout
    unknown_op = [a if not a.startswith("op=") else "op=chmod" for a in args]
    result = run_sh(shell, reader(SHOW + 'each show "$@"\n'), *unknown_op)
    assert result.returncode == 1 and b"bad op chmod" in result.stdout


@pytest.mark.parametrize("shell", SHELLS)
def test_a_relative_path_or_one_with_a_newline_is_refused(shell):
    """The run's own records (created directories, staged temp names) are lines: a path is one line."""
    for path, why in (("etc/docker/x", b"not an absolute path"), ("/etc/docker/a\nb", b"a path with a newline")):
        result = run_sh(shell, reader(SHOW + 'each show "$@"\n'), *entry(path).record().args())
        assert result.returncode == 1 and why in result.stdout, result.stdout


@pytest.mark.parametrize("shell", SHELLS)
def test_each_all_goes_on_past_a_failure_and_reports_it(shell):
    body = 'visit() { printf "%s " "$index"; [ "$index" != 1 ]; }\neach --all visit "$@"; echo "rc=$?"\n'
    result = run_sh(shell, reader(body), *entry_words([entry(index=1), entry(index=2)]))
    assert result.stdout == b"1 2 rc=1\n"
