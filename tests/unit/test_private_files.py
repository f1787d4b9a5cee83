"""Every file remediate writes on the controller is 0600, new, written beside its destination and renamed onto it.

The attack (issue 12, item 2, the controller's half): results, reports and saved facts map the fleet's
weaknesses. Written with the umask's mode they were readable by every local user; a symlink planted at
the destination, or at the predictable temporary name beside it (results.json.tmp), redirected the
write into a file the planter chose.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from remediate import private_files, results
from remediate.facts.model import HostFacts
from remediate.private_files import private_file, write_private
from remediate.report import FORMATS, write_reports
from tests.plan_fixtures import load

VICTIM_TEXT = "the victim's own content\n"


@pytest.fixture
def umask():
    """Set a umask for the test; the previous one is restored after it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "victim"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    path.chmod(0o644)
    return path


def assert_private_regular_file(path: Path) -> None:
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
    assert st.st_uid == os.getuid()


def assert_untouched(victim: Path) -> None:
    assert victim.read_text() == VICTIM_TEXT and stat.S_IMODE(victim.stat().st_mode) == 0o644


def no_leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def writers(doc: dict):
    """(name, destination files in out, write(out)) for every writer of the controller's files."""
    yield "write_private", ["data"], lambda out: write_private(out / "data", "text\n")
    yield "results.write", ["audit.json"], lambda out: results.write(doc, out / "audit.json")
    yield "facts --save", ["stock.json"], lambda out: load("stock").save(out / "stock.json")
    yield "reports", [name for name, _ in FORMATS.values()], lambda out: write_reports(doc, out)


WRITERS = ["write_private", "results.write", "facts --save", "reports"]


def writer(doc: dict, name: str):
    return next(w for w in writers(doc) if w[0] == name)


@pytest.mark.parametrize("name", WRITERS)
def test_a_symlink_planted_at_the_destination_is_replaced_not_followed(name, tmp_path, victim, audit_doc):
    _, files, write = writer(audit_doc, name)
    out = tmp_path / "out"
    out.mkdir()
    for file in files:
        (out / file).symlink_to(victim)
    write(out)
    assert_untouched(victim)
    for file in files:
        assert_private_regular_file(out / file)
    assert no_leftovers(out) == []


@pytest.mark.parametrize("name", WRITERS)
def test_a_symlink_planted_at_the_old_temporary_name_is_never_used(name, tmp_path, victim, audit_doc):
    _, files, write = writer(audit_doc, name)
    out = tmp_path / "out"
    out.mkdir()
    for file in files:  # where results.write and write_reports used to put their temporary file
        (out / f"{file}.tmp").symlink_to(victim)
    write(out)
    assert_untouched(victim)
    for file in files:
        assert_private_regular_file(out / file)
        assert os.readlink(out / f"{file}.tmp") == str(victim)


def test_a_planted_temporary_name_is_never_opened_another_is_drawn(tmp_path, victim, monkeypatch):
    destination = tmp_path / "results.json"
    planted = [tmp_path / ".results.json.planted1.tmp", tmp_path / ".results.json.planted2.tmp"]
    planted[0].symlink_to(victim)
    planted[1].write_text("a file someone else holds open\n")
    names = iter([*planted, tmp_path / ".results.json.fresh.tmp"])
    monkeypatch.setattr(private_files, "_temp_name", lambda path: next(names))
    write_private(destination, "new\n")
    assert destination.read_text() == "new\n" and not (tmp_path / ".results.json.fresh.tmp").exists()
    assert_untouched(victim)
    assert planted[1].read_text() == "a file someone else holds open\n" and os.readlink(planted[0]) == str(victim)


def test_when_every_temporary_name_is_taken_the_destination_is_left_alone(tmp_path, victim, monkeypatch):
    taken = tmp_path / ".taken.tmp"
    taken.symlink_to(victim)
    monkeypatch.setattr(private_files, "_temp_name", lambda path: taken)
    (tmp_path / "report.md").write_text("old\n")
    with pytest.raises(FileExistsError, match=r"report.md"):
        write_private(tmp_path / "report.md", "new\n")
    assert (tmp_path / "report.md").read_text() == "old\n"
    assert_untouched(victim)


@pytest.mark.parametrize("mask", [0, 0o022, 0o777])
@pytest.mark.parametrize("name", WRITERS)
def test_files_are_0600_whatever_the_umask(name, mask, tmp_path, umask, audit_doc):
    _, files, write = writer(audit_doc, name)
    out = tmp_path / "out"
    out.mkdir()
    for file in files:  # an older file the user left readable: it is replaced by a private one
        (out / file).write_text("old\n")
        (out / file).chmod(0o666)
    umask(mask)
    write(out)
    umask(0o022)
    for file in files:
        assert_private_regular_file(out / file)
        assert (out / file).read_text() != "old\n"


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path):
    destination = tmp_path / "audit.json"
    destination.write_text('{"old": true}\n')

    class Unserialisable:
        def __str__(self):
            raise RuntimeError("cannot be written")

    with pytest.raises(RuntimeError):
        results.write({"hosts": [Unserialisable()]}, destination)
    assert json.loads(destination.read_text()) == {"old": True}
    assert no_leftovers(tmp_path) == []
    with pytest.raises(RuntimeError), private_file(destination) as out:
        out.write("half of it")
        raise RuntimeError("interrupted")
    assert json.loads(destination.read_text()) == {"old": True} and no_leftovers(tmp_path) == []


def test_the_written_content_is_exactly_what_was_given(tmp_path, audit_doc):
    write_private(tmp_path / "bytes", b"\x00\xff")
    assert (tmp_path / "bytes").read_bytes() == b"\x00\xff"
    results.write(audit_doc, tmp_path / "deep" / "er" / "audit.json")
    assert json.loads((tmp_path / "deep" / "er" / "audit.json").read_text()) == audit_doc
    facts = load("stock")
    facts.save(tmp_path / "stock.json")
    assert HostFacts.load(tmp_path / "stock.json").to_json() == facts.to_json()
