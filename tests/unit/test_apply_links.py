"""The transaction script never lets a local user turn root's steps against the host (issue 12, attack 1).

Run here, as root, on files in a root-only directory (the `home` and `tx` fixtures of test_apply_locks): the
script must refuse paths whose directories another user could change (as written or as resolved through a
link), a file swapped for a symlink or for another inode since the plan, and its own record files when
something other than a regular file was planted in their place. The commit and restore halves, which restart
dockerd, are proven on lab hosts (tests/lab/test_harden_links.py).
"""

from __future__ import annotations

import os
import stat

from remediate.apply.protocol import Entry, entry_words
from tests.unit.conftest import RUN
from tests.unit.test_apply_locks import entries, leftovers, prepare

NOBODY = 65534


def meta_entry(path, inode: str | None = None, index: int = 1) -> Entry:
    """A chmod/chown to root:root 0444 of a file found root:root 0644 (like a TLS certificate's fix)."""
    st = os.lstat(path)
    return Entry(
        str(path),
        "meta",
        "-",
        "644",
        "root",
        "root",
        "root",
        "root",
        "444",
        None,
        index,
        inode=inode or f"{st.st_dev}:{st.st_ino}",
    )


def planted(home, mode=0o644):
    (home / "etc").mkdir(exist_ok=True)
    target = home / "etc" / "ca.pem"
    target.write_text("certificate\n")
    os.chmod(target, mode)
    return target


def test_a_file_in_a_directory_another_user_owns_is_never_touched(tx, home):
    users = home / "home" / "ops" / "certs"
    users.mkdir(parents=True)
    os.chown(home / "home" / "ops", NOBODY, NOBODY)
    pem = users / "ca.pem"
    pem.write_text("certificate\n")
    os.chmod(pem, 0o644)
    item = meta_entry(pem)
    assert tx.call("lock", "run by a test").ok
    reply = prepare(tx, [item], stdin=b'{"entries": []}\n')
    assert not reply.ok and f"{home}/home/ops is owned by uid {NOBODY}, not root" in reply.error()
    assert stat.S_IMODE(os.stat(pem).st_mode) == 0o644 and not (home / "base" / "runs" / RUN).exists()


def test_a_world_writable_directory_on_the_way_refuses_every_kind_of_change(tx, home):
    shared = home / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # sticky, like /tmp: anyone can still plant a new name
    items = [Entry(str(shared / "new.conf"), "write", "absent", "-", "-", "-", "root", "root", "644", b"x\n", 1)]
    assert tx.call("lock", "run by a test").ok
    reply = prepare(tx, items)
    assert not reply.ok and f"{shared} is writable by users other than root" in reply.error()
    assert list(shared.iterdir()) == []


def test_a_root_owned_link_into_a_users_directory_is_judged_by_where_it_leads(tx, home):
    users = home / "users"
    users.mkdir()
    os.chown(users, NOBODY, NOBODY)
    (home / "etc").mkdir()
    os.symlink(users, home / "etc" / "certs")  # root's link, in root's directory, into a user's one
    items = [
        Entry(
            str(home / "etc" / "certs" / "new.pem"), "write", "absent", "-", "-", "-", "root", "root", "444", b"x\n", 1
        )
    ]
    assert tx.call("lock", "run by a test").ok
    reply = prepare(tx, items)
    assert not reply.ok and f"{users} is owned by uid {NOBODY}" in reply.error()
    assert list(users.iterdir()) == []


def test_a_file_swapped_for_a_link_or_another_inode_since_the_plan_is_refused(tx, home):
    pem = planted(home)
    item = meta_entry(pem)
    os.link(pem, home / "kept")  # the planned inode stays in use, so the file planted later gets another one
    secret = home / "shadow"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    pem.unlink()
    os.symlink(secret, pem)
    assert tx.call("lock", "run by a test").ok
    reply = prepare(tx, [item], stdin=b'{"entries": []}\n')
    assert not reply.ok and "is now a symlink" in reply.error()
    pem.unlink()
    pem.write_text("certificate\n")  # the same name, the same bytes and mode: another file all the same
    os.chmod(pem, 0o644)
    reply = prepare(tx, [item], stdin=b'{"entries": []}\n')
    assert not reply.ok and "no longer the file the plan was made from" in reply.error()
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600 and os.stat(secret).st_uid == 0


def test_staged_temp_files_have_names_nobody_can_guess_or_plant(tx, home):
    (home / "etc").mkdir()
    trap = home / "etc" / f".file1.remediate-{RUN}"  # the name older versions used: predictable
    trap.write_text("planted\n")
    items = entries(home, b"first\n")
    assert tx.call("lock", "run by a test").ok and prepare(tx, items).ok
    staged = [name for name in leftovers(home) if name != trap.name]
    assert len(staged) == 1 and staged[0].startswith(".file1.remediate-") and trap.read_text() == "planted\n"
    assert stat.S_IMODE(os.stat(home / "etc" / staged[0]).st_mode) == 0o644  # the mode the plan asked for
    assert tx.call("abort", *entry_words(items)).ok
    assert leftovers(home) == [trap.name]  # abort removes its own temp file, by its recorded name only


def test_a_fifo_planted_as_a_lock_record_does_not_hang_the_script(tx, home):
    assert tx.call("lock", "run by a test").ok
    run_file = home / "base" / "lock" / "run"
    run_file.unlink()
    os.mkfifo(run_file)
    reply = tx.call("lock-info", timeout=20)
    assert reply.ok and reply.first("locked") is not None
    reply = tx.call("unlock", timeout=20)
    assert not reply.ok and "not " + RUN in reply.error()


def test_a_backups_directory_reached_through_a_link_is_refused(home):
    from remediate.apply.protocol import Transaction
    from remediate.connection.local import LocalConnection

    (home / "real").mkdir()
    os.symlink(home / "real", home / "base")
    reply = Transaction(LocalConnection(), RUN, become=False, base=str(home / "base")).call("lock", "a test")
    assert not reply.ok and "is a symlink" in reply.error() and list((home / "real").iterdir()) == []


def test_an_oversized_manifest_is_refused_by_the_host(tx, home):
    runs = home / "base" / "runs" / RUN
    assert tx.call("lock", "run by a test").ok
    runs.mkdir(parents=True)
    with open(runs / "manifest.json", "wb") as out:
        out.truncate(5 * 1024 * 1024)
    result = tx.raw("manifest")
    assert result.rc != 0 and b"over 4194304" in result.stdout and len(result.stdout) < 1000


def test_a_loose_directory_the_run_itself_tightens_first_may_hold_staged_files(tx, home):
    """A world-writable /etc/docker (the loose-perms scenario) is fixed by the same run that rewrites the
    daemon.json in it: prepare stages there, and the commit tightens the directory before it renames."""
    loose = home / "etc"
    loose.mkdir()
    os.chmod(loose, 0o777)
    st = os.stat(loose)
    tighten = Entry(
        str(loose),
        "meta",
        "-",
        "777",
        "root",
        "root",
        "root",
        "root",
        "755",
        None,
        1,
        "directory",
        inode=f"{st.st_dev}:{st.st_ino}",
    )
    write = Entry(str(loose / "daemon.json"), "write", "absent", "-", "-", "-", "root", "root", "644", b"{}\n", 2)
    assert tx.call("lock", "run by a test").ok
    refused = prepare(tx, [write])
    assert not refused.ok and f"{loose} is writable by users other than root" in refused.error()
    assert prepare(tx, [tighten, write]).ok
    assert [name[:-10] for name in leftovers(home)] == [".daemon.json.remediate-"]
