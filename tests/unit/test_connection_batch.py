"""The batch primitive and command quoting, run for real through /bin/sh on this machine."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from remediate.connection.base import quote_command
from remediate.connection.batch import MARKER, Batch, run_batch
from remediate.connection.local import LocalConnection
from remediate.errors import CommandFailed

HOSTILE = ["$(touch {p})", "`touch {p}`", "; touch {p}", "a'b\"c", "line1\nline2", "-rf", "--", "*", "{p} x"]


@pytest.fixture
def conn():
    return LocalConnection("local-test")


def test_exact_bytes_of_binary_and_odd_files(conn, tmp_path):
    files = {
        "all-bytes": bytes(range(256)) * 4,
        "nul": b"\0\0a\0",
        "latin1": "café".encode("latin-1"),
        "marker": MARKER + b" 0 0 0 0 0\n" + MARKER,
        "empty": b"",
        "big": os.urandom(5 * 1024 * 1024),
        "no-newline": b"x",
    }
    batch = Batch()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        batch.add_read(name, str(tmp_path / name))
    results = run_batch(conn, batch)
    assert conn.round_trips == 1
    for name, data in files.items():
        assert results[name].stdout == data, name
        assert results[name].meta["kind"] == "file"
        assert int(results[name].meta["size"]) == len(data)


def test_read_reports_kind_mode_owner_and_symlink(conn, tmp_path):
    target = tmp_path / "target.json"
    target.write_text("{}")
    os.chmod(target, 0o602)
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "dir").mkdir(mode=0o750)
    batch = Batch()
    for name in ("target.json", "link", "dir", "absent"):
        batch.add_read(name, str(tmp_path / name))
    r = run_batch(conn, batch)
    assert r["target.json"].meta["mode"] == "602" and r["target.json"].meta["owner"] == "root"
    assert r["link"].meta["kind"] == "symlink" and r["link"].meta["link"] == str(target)
    assert r["link"].stdout == b"{}"
    assert r["dir"].meta["kind"] == "dir" and r["dir"].meta["mode"] == "750" and r["dir"].stdout == b""
    assert r["absent"].meta == {"kind": "missing"}


def test_failing_step_does_not_stop_later_steps(conn):
    batch = Batch()
    batch.add_command("fails", ["sh", "-c", "echo oops >&2; exit 7"])
    batch.add_command("missing-tool", ["no-such-tool-remediate"])
    batch.add_command("works", ["echo", "fine"])
    r = run_batch(conn, batch)
    assert (r["fails"].rc, r["fails"].stderr) == (7, b"oops\n")
    assert r["missing-tool"].rc == 127
    assert (r["works"].rc, r["works"].stdout) == (0, b"fine\n")


def test_hostile_values_are_data_never_code(conn, tmp_path):
    sentinel = tmp_path / "pwned"
    values = [v.format(p=sentinel) for v in HOSTILE]
    batch = Batch()
    for i, value in enumerate(values):
        batch.add_read(f"read{i}", value)
        batch.add_command(f"echo{i}", ["printf", "%s", value])
        batch.add_shell(f"env{i}", 'printf %s "$V"', env={"V": value})
    r = run_batch(conn, batch)
    assert not sentinel.exists()
    for i, value in enumerate(values):
        assert r[f"echo{i}"].stdout == value.encode()
        assert r[f"env{i}"].stdout == value.encode()
        assert r[f"read{i}"].meta["kind"] == "missing"


def test_truncated_or_garbled_output_is_an_error():
    batch = Batch()
    batch.add_command("a", ["true"])
    batch.add_command("b", ["true"])
    with pytest.raises(CommandFailed, match="'b'"):
        batch.parse(MARKER + b" 0 0 0 0 0\n")
    with pytest.raises(CommandFailed, match="garbled"):
        batch.parse(b"junk\n")
    with pytest.raises(CommandFailed, match="truncated"):
        batch.parse(MARKER + b" 0 0 0 5 0\nab")


def test_duplicate_step_key_rejected():
    batch = Batch()
    batch.add_command("x", ["true"])
    with pytest.raises(ValueError):
        batch.add_command("x", ["true"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))),
                min_size=1, max_size=5))
def test_quote_command_round_trips_any_argv(argv):
    command = quote_command(["printf", "%s\\0", *argv])
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in argv]
