"""Host text is neutralised for each sink it reaches: the operator's terminal, JUnit XML, Markdown, HTML, SARIF, JSON.

The attack (issue 12, item 5): an SSH server, before its host key is even checked, sends a banner line
with escape sequences; paramiko quotes that line in its error, which became our Unreachable error and
was printed raw (retitling the terminal and drawing a fake "ok" progress line), made junit.xml
unparsable and put a raw <img onerror> into report.md. Hosts can do the same through daemon.json
values, journal lines (validation details), lock owners and diffs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import threading
import unicodedata
import xml.etree.ElementTree as ET

import junitparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoke import Context, Exit

import tasks
from remediate import app, checks, neutralise, output
from remediate.apply.validation import Validation
from remediate.audit import audit_host
from remediate.facts.model import CommandFact
from remediate.harden import HostHarden
from remediate.plan import plan_host
from remediate.report import html, junit, markdown, write_reports
from remediate.runner import HostOutcome
from remediate.target import Target
from tests import report_fixtures as rf
from tests.plan_fixtures import load, policy, with_daemon_json

FAKE_OK = "  [1/1] web1 ok"
IMG = "<img src=x onerror=alert(1)>"
# Retitle the terminal, return to column 0, erase the line, draw a fake progress line; then markup.
EVIL_LINE = f"\x1b]0;pwned\x07\r\x1b[2K{FAKE_OK} {IMG}"
# What else a host can put in its text: a new line, C1 CSI, DEL, a bidi override, NUL, backspace, a tab.
EVIL_TEXT = f"{EVIL_LINE}\n{FAKE_OK}\x9b31m\x7f\u202eevil\u2066\x00\b\t|`x`|"
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def forged_lines(text: str) -> list[str]:
    """Lines a host drew: the fake progress line at the start of a line of its own."""
    return [line for line in text.split("\n") if re.match(r"\s*\[1/1\] web1 ok", line)]


# --- the neutralising functions -------------------------------------------------------------------------

CONTROL_CHARS = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


@given(st.text())
def test_the_terminal_form_of_any_string_has_no_control_character(text):
    assert not TERMINAL_CONTROLS.search(neutralise.terminal(text))
    assert "\n" not in neutralise.terminal(text) and "\t" not in neutralise.terminal(text)
    assert not any(unicodedata.category(c) == "Cs" for c in neutralise.terminal(text))


@given(st.text(st.characters(blacklist_characters=CONTROL_CHARS, blacklist_categories=["Cs"])))
def test_printable_text_is_shown_unchanged(text):
    assert neutralise.terminal(text) == text
    assert output.shown(text) == text and output.line("{} {}", text, 1) == f"{text} 1"


@pytest.mark.parametrize(
    "char, shown",
    [
        ("\x1b", "\\x1b"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\b", "\\x08"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),
        ("\u202e", "\\u202e"),
        ("\u2069", "\\u2069"),
        ("\ud800", "\\ud800"),
    ],
)
def test_each_control_character_is_shown_escaped(char, shown):
    assert neutralise.terminal(f"a{char}b") == f"a{shown}b"


def test_our_own_colours_and_newlines_still_work_around_host_text(monkeypatch):
    monkeypatch.setattr(output, "_COLOR", True)
    colored = output.color(EVIL_LINE, "red")
    assert colored.startswith("\033[31m\\x1b]0;pwned\\x07\\r\\x1b[2K") and colored.endswith("\033[0m")
    assert colored.count("\033") == 2
    table = output.table(["host", "detail"], [["web1", output.color("ok", "green")], ["web2", EVIL_TEXT]])
    lines = table.split("\n")
    assert len(lines) == 3 and table.count("\033") == 2 and not forged_lines(table)
    assert lines[0].index("detail") == lines[1].index("\033[32mok") == lines[2].index("\\x1b")
    assert output.ours("audit: a\nb\x1b") == "audit: a\nb\\x1b"


# --- the terminal, end to end: an SSH banner through the real CLI path ----------------------------------


@pytest.fixture
def evil_ssh_server():
    """A raw TCP server on 127.0.0.1 that answers every connection with 100 evil banner lines, then garbage."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall((EVIL_LINE.encode() + b"\r\n") * 100 + b"\x00\xff garbage")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def banner_target(tmp_path, port: int) -> Target:
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        f"all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n"
        "      ansible_user: root\n"
    )
    return Target(
        hosts="web1", inventory=str(inventory), inventories_dir=tmp_path, known_hosts=[tmp_path / "known_hosts"]
    )


def assert_neutralised(text: str) -> None:
    assert not TERMINAL_CONTROLS.search(text), repr(text)
    assert not forged_lines(text), text


def test_an_ssh_banner_cannot_drive_the_terminal_of_audit(evil_ssh_server, tmp_path, capsys):
    code = app.audit(
        banner_target(tmp_path, evil_ssh_server),
        app.AuditOptions(json_path=tmp_path / "audit.json", report_dir=tmp_path / "reports"),
    )
    out, err = capsys.readouterr()
    assert code == app.EXIT_UNREACHABLE
    # The banner reached our error (so the old code printed it raw), shown escaped, on one line.
    assert "Indecipherable protocol version" in err and "\\x1b]0;pwned\\x07\\r\\x1b[2K  [1/1] web1 ok" in err
    assert_neutralised(out)
    assert_neutralised(err)
    progress = [line for line in err.split("\n") if "[1/1]" in line]
    assert len(progress) == 1 and progress[0].startswith("  [1/1] web1 UNREACHABLE (")
    heading = [line for line in out.split("\n") if line.startswith("== web1")]
    assert len(heading) == 1 and "\\x07" in heading[0]
    # The reports of that same run: JUnit parses, Markdown shows the markup as text, HTML escapes it.
    reports = tmp_path / "reports"
    junitparser.JUnitXml.fromfile(str(reports / "junit.xml"))
    assert "\\x1b]0;pwned" in ET.parse(reports / "junit.xml").find(".//error").get("message")
    assert IMG not in (reports / "report.md").read_text() and "&lt;img src=x" in (reports / "report.md").read_text()
    assert IMG not in (reports / "report.html").read_text() and "\x1b" not in (reports / "report.html").read_text()
    sarif_log = json.loads((reports / "results.sarif").read_text())
    notification = sarif_log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    for saved in ((tmp_path / "audit.json").read_text(), (reports / "results.sarif").read_text()):
        assert not TERMINAL_CONTROLS.search(saved.replace("\n", ""))
    # JSON keeps exactly what the host said, escaped in the file.
    assert json.loads((tmp_path / "audit.json").read_text())["hosts"][0]["error"].endswith(f'"{EVIL_LINE}"')
    assert notification.endswith(f'"{EVIL_LINE}"')


def test_an_ssh_banner_cannot_drive_the_terminal_of_facts(evil_ssh_server, tmp_path, capsys):
    assert app.show_facts(banner_target(tmp_path, evil_ssh_server)) == app.EXIT_UNREACHABLE
    out, err = capsys.readouterr()
    assert "Indecipher" in out and "\\x1b]0;pwned" in err  # the table cuts the error at 60 characters
    assert_neutralised(out)
    assert_neutralised(err)
    assert len([line for line in out.split("\n") if line.startswith("web1")]) == 1


def test_the_invoke_command_line_shows_no_banner_raw_not_even_in_paramikos_log(evil_ssh_server, tmp_path):
    """As an operator runs it: what paramiko logs itself (the banner line, through logging's last resort) too."""
    target = banner_target(tmp_path, evil_ssh_server)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(rf.ROOT),
            "facts",
            "--hosts",
            "web1",
            "--inventory",
            target.inventory,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == app.EXIT_UNREACHABLE, done.stderr
    assert 'Exception (client): Indecipherable protocol version "\\x1b]0;pwned' in done.stderr
    assert_neutralised(done.stdout)
    assert_neutralised(done.stderr)


def test_a_tasks_error_shows_its_lines_but_no_control_character(tmp_path):
    name = "\x1b]0;pwned\x07\r\x1bMweb1 ok.json"  # no glob character: the name is quoted as it is
    with pytest.raises(Exit) as failed:
        tasks.report(Context(), results=str(tmp_path / name), out=str(tmp_path / "out"))
    message = failed.value.message
    assert message == f"report: {tmp_path}/\\x1b]0;pwned\\x07\\r\\x1bMweb1 ok.json: no such results file"


def test_lock_owners_diffs_and_journal_lines_cannot_drive_the_terminal_of_harden(capsys):
    facts = with_daemon_json(load("stock"), '{"labels": ["a\u202eb\x9b31m\x7f"]}\n'.encode())
    facts.commands["apply_lock"] = CommandFact(0, f"run 1 by {EVIL_TEXT}\n")
    plan = plan_host(facts, policy())
    assert plan.changes and not plan.refused
    validation = Validation(False, [{"name": "dockerd", "ok": False, "detail": f"journal: {EVIL_TEXT}"}])
    value = HostHarden(audit_host(facts, policy(), checks.select(), "web1"), plan, validation)
    outcomes = [HostOutcome("web1", "ok", value), HostOutcome("web2", "failed", error=EVIL_TEXT)]
    output.plan_report(outcomes)
    output.harden_recap(outcomes, dry_run=True)
    out = capsys.readouterr().out
    assert_neutralised(out)
    assert "locked by run 1 by \\x1b]0;pwned" in out and "INVALID dockerd: journal: \\x1b]0;pwned" in out
    assert "a\\u202eb\\x9b31m\\x7f" in out  # the diff's lines, shown escaped


def test_notices_of_other_modules_keep_their_lines_but_not_their_controls(capsys):
    output.info(f"one\ntwo {EVIL_LINE}")
    err = capsys.readouterr().err
    assert err.startswith("one\ntwo \\x1b]0;pwned") and err.count("\n") == 2
    assert_neutralised(err)


# --- the reports --------------------------------------------------------------------------------------


def hostile(doc: dict) -> dict:
    """The harden fleet with host text carrying escape sequences and markup wherever a host can put it."""
    doc = copy.deepcopy(doc)
    stock = next(h for h in doc["hosts"] if h["host"] == "stock")
    stock["results"][0] |= {"status": "fail", "evidence": [EVIL_TEXT, IMG]}
    stock["plan"]["changes"][0]["diff"] = f"+{EVIL_TEXT}\n+{IMG}\n+``````\n"
    stock["plan"]["notes"] = [EVIL_TEXT]
    stock["validation"]["steps"].append({"name": "dockerd", "ok": False, "detail": EVIL_TEXT})
    stock["lock"] = EVIL_TEXT
    gone = next(h for h in doc["hosts"] if h["status"] != "ok")
    gone["error"] = f'web1: no SSH service answered: Indecipherable protocol version "{EVIL_TEXT}"'
    return doc


def outside_code(text: str) -> str:
    """The Markdown without its fenced blocks and code spans (CommonMark: their text is literal)."""
    text = re.sub(r"^(`{3,})[^\n`]*\n.*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"(?<!\\)(`+)(?!`).*?(?<!`)\1(?!`)", "", text, flags=re.DOTALL)


def test_junit_always_parses_and_keeps_what_the_host_said_escaped(harden_doc):
    doc = hostile(harden_doc)
    text = junit.render(doc)
    root = ET.fromstring(text)
    junitparser.JUnitXml.fromstring(text)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    gone = root.find("testsuite[@name='gone-01']/testcase/error")
    assert "\\x1b]0;pwned\\x07" in gone.get("message") and "\\x00\\x08" in gone.get("message")


def test_markdown_shows_host_markup_as_text_and_its_code_cannot_be_closed(harden_doc):
    text = markdown.render(hostile(harden_doc))
    assert "<img" not in outside_code(text) and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert not TERMINAL_CONTROLS.search(text.replace("\t", ""))
    assert "\n```````diff\n+\\x1b]0;pwned\\x07\\r\\x1b[2K" in text  # a fence longer than the diff's ``````
    blocks = re.findall(r"^(`{3,})diff\n(.*?)^\1$", text, re.MULTILINE | re.DOTALL)
    assert any(IMG in body and "``````" in body for _, body in blocks)
    section = text.split("\n## stock\n", 1)[1].split("\n## ", 1)[0]
    assert not forged_lines(outside_code(section))
    findings = [line for line in section.split("\n") if line.startswith("| fail |")]
    assert findings and all(line.count(" | ") == 4 for line in findings)  # host pipes stay inside their cell


def test_html_escapes_host_markup_and_shows_controls_escaped(harden_doc):
    page = html.render(hostile(harden_doc))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page and "\\x1b]0;pwned" in page


def test_sarif_and_the_results_json_escape_every_control(harden_doc, tmp_path):
    doc = hostile(harden_doc)
    sarif_path, json_path = write_reports(doc, tmp_path, ["sarif", "json"])
    for path in (sarif_path, json_path):
        assert not TERMINAL_CONTROLS.search(path.read_text().replace("\n", "")), path
    assert json.loads(json_path.read_text()) == doc  # escaped in the file, exactly the host's text when read
    gone = json.loads(sarif_path.read_text())["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]
    assert gone["message"]["text"].endswith(f'"{EVIL_TEXT}"')
