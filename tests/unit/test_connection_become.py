"""Become through sudo, against a stand-in `sudo` on PATH that reads -S passwords like the real one.

The stand-in does not switch users; it checks the password line by line from
stdin (the real sudo's -S behaviour, three tries), honours -n, and logs its
argv so we can prove the password never appears there.
"""

from __future__ import annotations

import pytest

from remediate.connection.become import Become
from remediate.connection.local import LocalConnection
from remediate.errors import BecomeFailed

PASSWORD = "s3cr3t pass'word"

FAKE_SUDO = r"""#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_SUDO_LOG"
mode=
while [ $# -gt 0 ]; do
    case $1 in
        -S) mode=S ;; -n) mode=n ;; -k) ;; -p|-u) shift ;; --) shift; break ;;
    esac
    shift
done
if [ -n "$FAKE_SUDO_PASSWORD" ]; then
    [ "$mode" = n ] && { echo "sudo: a password is required" >&2; exit 1; }
    tries=0
    while :; do
        if ! IFS= read -r pw; then
            echo "sudo: no password was provided" >&2
            [ $tries -gt 0 ] && echo "sudo: $tries incorrect password attempt" >&2
            exit 1
        fi
        [ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
        tries=$((tries + 1))
        echo "Sorry, try again." >&2
        [ $tries -ge 3 ] && { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
    done
fi
exec "$@"
"""


@pytest.fixture
def sudo_env(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text(FAKE_SUDO)
    (bin_dir / "sudo").chmod(0o755)
    log = tmp_path / "sudo.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SUDO_LOG", str(log))
    monkeypatch.setenv("FAKE_SUDO_PASSWORD", PASSWORD)
    return log


def conn_for(password: str | None) -> LocalConnection:
    # We are root here; becoming "nobody" is what makes the connection use sudo.
    return LocalConnection("local", Become(user="nobody", password=password))


def test_right_password_runs_the_command_with_exact_stdout_and_stdin(sudo_env):
    conn = conn_for(PASSWORD)
    assert conn.run(["printf", "a\\0b"], become=True).stdout == b"a\0b"
    data = b"payload\nwith lines\n\xff\x00"
    assert conn.run(["cat"], stdin=data, become=True).stdout == data
    assert conn.run(["cat"], become=True).stdout == b""  # never the password line
    assert PASSWORD not in sudo_env.read_text()
    assert conn.round_trips == 4  # one verification before the first call that sends data


def test_wrong_password_fails_before_any_data_is_sent(sudo_env):
    conn = conn_for("wrong")
    with pytest.raises(BecomeFailed, match="incorrect sudo password") as info:
        conn.run(["cat"], stdin=b"must-never-be-a-password-attempt\n", become=True)
    assert conn.round_trips == 1  # the verification only; the data never left
    assert "wrong" not in str(info.value) and PASSWORD not in str(info.value)


def test_wrong_password_without_data_fails_too(sudo_env):
    with pytest.raises(BecomeFailed, match="incorrect sudo password"):
        conn_for("wrong").run(["true"], become=True)


def test_no_password_configured_uses_sudo_n(sudo_env):
    with pytest.raises(BecomeFailed, match="requires a password but none was configured"):
        conn_for(None).run(["true"], become=True)
    assert sudo_env.read_text().startswith("-n ")


def test_nopasswd_sudo_never_hands_the_password_to_the_command(sudo_env, monkeypatch):
    monkeypatch.setenv("FAKE_SUDO_PASSWORD", "")  # sudoers NOPASSWD: sudo reads nothing
    conn = conn_for(PASSWORD)
    assert conn.run(["cat"], become=True).stdout == b""
    assert conn.run(["cat"], stdin=b"data", become=True).stdout == b"data"
    assert conn.run(["cat"], stdin=b"more", become=True).stdout == b"more"
    assert conn.round_trips == 4  # one probe learned that sudo takes no password here


def test_missing_sudo_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BecomeFailed, match="sudo is not installed"):
        conn_for(None).run(["true"], become=True)


def test_same_user_skips_sudo(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # no sudo at all, and none needed
    conn = LocalConnection("local", Become(user="root", password=PASSWORD))
    assert conn.run(["id", "-un"], become=True).stdout == b"root\n"


def test_password_is_in_no_repr():
    conn = conn_for(PASSWORD)
    assert PASSWORD not in repr(conn) and PASSWORD not in repr(conn.become)
    assert "***" in repr(conn.become)
