"""Command quoting and the local transport, run for real on this machine."""

from __future__ import annotations

import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.connection.base import CommandResult, checked_argv, quote_command
from remediate.connection.local import LocalConnection
from remediate.errors import CommandFailed, CommandTimeout

WORDS = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)))


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=6))
def test_quote_command_round_trips_any_argv_through_sh(argv):
    command = "printf '%s\\0' " + quote_command(argv)
    out = subprocess.run(["sh", "-c", command], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in argv]


@pytest.mark.parametrize(
    "bad, error",
    [([], ValueError), ("ls -l", TypeError), ([b"ls"], TypeError), (["ls", 3], TypeError), (["a\0b"], ValueError)],
)
def test_argv_that_no_exec_can_carry_is_refused(bad, error):
    with pytest.raises(error):
        checked_argv(bad)


def test_local_run_never_goes_through_a_shell(tmp_path):
    conn = LocalConnection("local")
    hostile = f"$(touch {tmp_path}/pwned); touch {tmp_path}/pwned2"
    assert conn.run(["printf", "%s", hostile]).stdout == hostile.encode()
    assert list(tmp_path.iterdir()) == []


def test_local_run_passes_stdin_bytes_and_reports_rc_and_stderr():
    conn = LocalConnection("local")
    payload = bytes(range(256)) * 1000
    assert conn.run(["cat"], stdin=payload).stdout == payload
    result = conn.run(["sh", "-c", "echo err >&2; exit 3"])
    assert (result.rc, result.stderr, result.ok) == (3, b"err\n", False)
    assert conn.run(["cat"]).stdout == b""  # no stdin given: /dev/null, never a hang
    assert conn.run(["no-such-command-remediate"]).rc == 127
    assert conn.round_trips == 4


def test_run_script_gets_values_as_positional_parameters(tmp_path):
    conn = LocalConnection("local")
    value = f"'; touch {tmp_path}/pwned; '"
    result = conn.run_script('printf "%s|%s" "$1" "$#"', args=[value, "-n"])
    assert result.stdout == f"{value}|2".encode()
    assert not (tmp_path / "pwned").exists()


def test_timeout_kills_the_whole_process_group():
    conn = LocalConnection("local")
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"timed out after 0.5s"):
        conn.run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.5)
    assert time.monotonic() - started < 5


def test_check_raises_command_failed_with_stderr():
    assert CommandResult(0, b"x", b"").check("ok thing").stdout == b"x"
    with pytest.raises(CommandFailed, match=r"docker info failed \(exit 2\): boom") as info:
        CommandResult(2, b"", b"boom\n").check("docker info")
    assert info.value.rc == 2
