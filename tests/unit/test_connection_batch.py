"""The batch primitive, run for real through sh on this machine (LocalConnection)."""

from __future__ import annotations

import os

import pytest

from remediate.connection.batch import READ_LIMIT, Batch, run_batch
from remediate.connection.local import LocalConnection
from remediate.errors import BatchOutputError, CommandFailed

HOSTILE = [
    "$(touch {p})",
    "`touch {p}`",
    "; touch {p}",
    "a'b\"c",
    "line1\nline2 touch {p}",
    "-rf",
    "--",
    "-n",
    "*",
    "{p} x",
    "\\",
    "!",
    "(",
    "%s%n",
]


@pytest.fixture
def conn():
    return LocalConnection("local-test")


def test_exact_bytes_of_binary_and_odd_files(conn, tmp_path):
    batch = Batch()
    files = {
        "all-bytes": bytes(range(256)) * 4,
        "nul": b"\0\0a\0",
        "invalid-utf8": "café".encode("latin-1") + b"\xff\xfe\xc3",
        "marker": batch.marker + b" 0 0 0 0 0\n" + batch.marker + b" end 1\n" + batch.marker,
        "empty": b"",
        "big": os.urandom(5 * 1024 * 1024),
        "no-newline": b"x",
        "crlf": b"a\r\nb\r\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        batch.add_read(name, str(tmp_path / name))
    results = run_batch(conn, batch)
    assert conn.round_trips == 1
    for name, data in files.items():
        info = results[name].file
        assert results[name].stdout == data, name
        assert info.content == data and info.is_file and info.exists and not info.truncated
        assert info.stat.size == len(data)


def test_read_reports_kind_stat_and_symlinks(conn, tmp_path):
    target = tmp_path / "target.json"
    target.write_text("{}")
    os.chmod(target, 0o602)
    os.utime(target, (1_600_000_000, 1_600_000_000))
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir").mkdir(mode=0o750)
    batch = Batch()
    for name in ("target.json", "link", "dangling", "dir", "absent"):
        batch.add_read(name, str(tmp_path / name))
    r = run_batch(conn, batch)
    f = r["target.json"].file
    assert (f.stat.mode, f.stat.uid, f.stat.owner, f.stat.group, f.stat.mtime) == (
        0o602,
        0,
        "root",
        "root",
        1_600_000_000,
    )
    assert r["target.json"].meta["mode"] == "602"  # the raw fields stay available
    link = r["link"].file
    assert link.is_symlink and link.is_file and link.link_target == str(target) and link.content == b"{}"
    dangling = r["dangling"].file
    assert dangling.is_symlink and not dangling.exists and dangling.stat is None and dangling.content is None
    d = r["dir"].file
    assert d.is_dir and d.stat.mode == 0o750 and d.content is None
    absent = r["absent"].file
    assert not absent.exists and absent.kind == "missing" and r["absent"].rc == 0


def test_symlink_target_cannot_forge_stat_fields(conn, tmp_path):
    forged = "x\nmode=777\nowner=root\nkind=file"
    (tmp_path / "evil").symlink_to(forged)
    r = run_batch(conn, Batch().add_read("evil", str(tmp_path / "evil")))
    assert r["evil"].file.link_target == forged
    assert r["evil"].file.stat is None and r["evil"].file.kind == "symlink"


def test_unreadable_file_reports_the_error(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0)
    conn = LocalConnection("local")
    r = run_batch(conn, Batch().add_read("s", str(secret)).add_command("after", ["echo", "after"]))
    if os.geteuid() == 0:  # root reads anyway; the read must still succeed
        assert r["s"].file.content == b"x"
    else:
        assert r["s"].rc != 0 and r["s"].file.content is None and b"Permission denied" in r["s"].stderr
    assert r["after"].stdout == b"after\n"


def test_large_file_is_cut_at_the_limit_and_flagged(conn, tmp_path):
    (tmp_path / "big").write_bytes(b"a" * 5000)
    r = run_batch(
        conn,
        Batch().add_read("big", str(tmp_path / "big"), limit=1000).add_read("exact", str(tmp_path / "big"), limit=5000),
    )
    assert r["big"].file.truncated and r["big"].stdout == b"a" * 1000
    assert not r["exact"].file.truncated and len(r["exact"].stdout) == 5000
    assert READ_LIMIT >= 1024 * 1024


def test_failing_step_does_not_stop_later_steps(conn):
    batch = (
        Batch()
        .add_command("fails", ["sh", "-c", "echo oops >&2; exit 7"])
        .add_command("missing-tool", ["no-such-tool-remediate"])
        .add_command("exit-builtin", ["exit", "9"])
        .add_shell("snippet-exit", "echo partial; exit 4")
        .add_command("works", ["echo", "fine"])
    )
    r = run_batch(conn, batch)
    assert (r["fails"].rc, r["fails"].stderr) == (7, b"oops\n")
    assert r["missing-tool"].rc == 127
    assert r["exit-builtin"].rc == 9
    assert (r["snippet-exit"].rc, r["snippet-exit"].stdout) == (4, b"partial\n")
    assert (r["works"].rc, r["works"].stdout) == (0, b"fine\n")
    assert r["works"].file is None


def test_hostile_values_are_data_never_code(conn, tmp_path):
    sentinel = tmp_path / "pwned"
    values = [v.format(p=sentinel) for v in HOSTILE]
    for value in values:  # the hostile names exist, so they are really read
        if "/" not in value:
            (tmp_path / value).write_text(value)
    batch = Batch()
    for i, value in enumerate(values):
        path = str(tmp_path / value) if "/" not in value else value
        batch.add_read(f"read{i}", path)
        batch.add_command(f"echo{i}", ["printf", "%s", value])
        batch.add_shell(f"env{i}", 'printf %s "$V"', env={"V": value})
    r = run_batch(conn, batch)
    assert not sentinel.exists()
    for i, value in enumerate(values):
        assert r[f"echo{i}"].stdout == value.encode()
        assert r[f"env{i}"].stdout == value.encode()
        if "/" not in value:
            assert r[f"read{i}"].file.content == value.encode()
        else:
            assert not r[f"read{i}"].file.exists
    assert os.environ.get("V") is None


def test_leading_dash_path_is_not_an_option(conn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-n").write_text("dash")
    r = run_batch(conn, Batch().add_read("dash", "-n"))
    assert r["dash"].file.content == b"dash"


def test_env_names_must_be_plain_identifiers():
    with pytest.raises(ValueError):
        Batch().add_shell("x", "true", env={"A;touch /tmp/x": "v"})


def test_login_shell_noise_before_the_first_frame_is_ignored(conn):
    batch = Batch().add_command("a", ["echo", "a"])
    script, args = batch.script()
    out = conn.run_script(script, args=args).stdout
    assert batch.parse(b"Welcome to a chatty .bashrc\n" + out)["a"].stdout == b"a\n"


def test_truncated_or_garbled_output_is_an_error_naming_the_step(conn):
    batch = Batch().add_command("first", ["echo", "one"]).add_read("second", "/etc/hostname")
    script, args = batch.script()
    good = conn.run_script(script, args=args).stdout
    assert set(batch.parse(good)) == {"first", "second"}
    rc_line = batch.marker + b" rc 0 0\n"
    first_sizes = b"0\n4\n0\n"  # meta, stdout ("one\n"), stderr
    assert good.startswith(rc_line + first_sizes)
    data = good.index(batch.marker + b" data\n") + len(batch.marker) + 6
    assert good[data : data + 4] == b"one\n"
    for broken, expected in [
        (good[: data + 4 + 3], r"truncated.*step 1 'second' \(read '/etc/hostname'\)"),
        (good[: len(good) - 3], r"end trailer"),
        (good.replace(rc_line, batch.marker + b" rc 0 x\n"), r"garbled.*step 1 'second'"),
        (good.replace(rc_line, batch.marker + b" rc 0 0 0\n"), r"garbled after the step results"),
        (good.replace(batch.marker + b" data\n", batch.marker + b" date\n"), r"garbled after the step results"),
        (b"", r"no framed output.*step 0 'first'"),
        (good[: len(rc_line) + len(first_sizes)], r"ended.*step 1 'second'"),
    ]:
        with pytest.raises(BatchOutputError, match=expected):
            batch.parse(broken)
    assert issubclass(BatchOutputError, CommandFailed)


def test_framing_costs_two_processes_per_batch_not_per_step():
    """The sizes and bytes of every step come from one stat and one cat, whatever the step count."""
    batch = Batch()
    for i in range(40):
        batch.add_command(f"c{i}", ["true"])
        batch.add_read(f"r{i}", "/etc/hostname")
    script, _ = batch.script()
    assert script.count("stat -c %s") == 1 and script.count("cat --") == 1
    assert "wc " not in script and "$(" not in script.split("\nr=\n")[1]


def test_script_failure_before_any_step_is_reported_with_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-dir"))
    conn = LocalConnection("local")
    batch = Batch().add_command("a", ["true"])
    script, args = batch.script()
    result = conn.run_script(script.replace("mktemp -d -p /dev/shm", "false"), args=args)
    with pytest.raises(BatchOutputError, match="no framed output"):
        batch.parse(result.stdout)
    assert result.rc == 111 and b"no writable temp directory" in result.stderr


def test_temp_directory_is_private_and_removed(conn, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    r = run_batch(conn, Batch().add_shell("mode", 'ls -ld "$TMPDIR"/tmp.* | cut -c1-10'))
    assert r["mode"].stdout == b"drwx------\n"
    assert list(tmp_path.iterdir()) == []


def test_duplicate_step_key_rejected():
    batch = Batch().add_command("x", ["true"])
    with pytest.raises(ValueError):
        batch.add_command("x", ["true"])


def _fields(path) -> tuple:
    st = os.stat(path)
    return (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_size, int(st.st_mtime), st.st_dev, st.st_ino)


def _got(info) -> tuple:
    s = info.stat
    return (s.mode, s.uid, s.gid, s.size, s.mtime, s.dev, s.ino)


def test_one_stat_for_the_batch_gives_each_path_its_own_fields(conn, tmp_path):
    """Missing paths, dangling links, dirs and stat steps between reads: no record lands on another path."""
    names = []
    for i in range(12):
        kind = i % 4
        path = tmp_path / f"p{i}"
        if kind == 0:
            path.write_bytes(b"x" * i)
            os.chmod(path, 0o600 + i)
        elif kind == 1:
            path.mkdir(mode=0o700 + i)
        elif kind == 2:
            path.symlink_to(tmp_path / "nowhere")
        names.append(path)
    batch = Batch()
    for i, path in enumerate(names):
        (batch.add_stat if i % 3 == 0 else batch.add_read)(f"k{i}", str(path))
    script, _ = batch.script()
    assert script.count("\nprestat ") == 1
    r = run_batch(conn, batch)
    for i, path in enumerate(names):
        info = r[f"k{i}"].file
        if i % 4 in (2, 3):
            assert not info.exists and info.stat is None, i
        else:
            assert _got(info) == _fields(path), i


def test_paths_that_appear_or_vanish_during_the_batch_are_stat_ed_alone(conn, tmp_path):
    """A path created or removed by an earlier step (as a host may do meanwhile) keeps every record aligned."""
    gone, late, kept = tmp_path / "gone", tmp_path / "late", tmp_path / "kept"
    gone.write_text("bye")
    kept.write_text("stays")
    os.chmod(kept, 0o640)
    batch = (
        Batch()
        .add_command(
            "change", ["sh", "-c", 'rm -- "$1" && echo hi >"$2" && chmod 604 "$2"', "sh", str(gone), str(late)]
        )
        .add_read("gone", str(gone))
        .add_read("late", str(late))
        .add_stat("kept", str(kept))
    )
    r = run_batch(conn, batch)
    assert not r["gone"].file.exists and r["gone"].file.stat is None and r["gone"].rc == 0
    assert r["late"].file.content == b"hi\n" and _got(r["late"].file) == _fields(late)
    assert r["late"].file.stat.mode == 0o604
    assert _got(r["kept"].file) == _fields(kept) and r["kept"].file.content is None
