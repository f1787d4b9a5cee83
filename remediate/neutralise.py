"""Host text made harmless where it is written: one function per sink, used by every writer of that sink.

Everything a host says is data: SSH banners (paramiko quotes them in its errors), daemon.json values,
journal lines, lock owners, file contents and the diffs of them. It reaches the operator's terminal and
every report, so each sink neutralises it by its own rules:

- terminal(): control characters (C0 with \\n \\t \\r \\b ESC, DEL, C1), Unicode bidi controls, line and
  paragraph separators and lone surrogates are shown escaped (`\\x1b`, `\\n`, `\\u202e`), so a host value can
  neither move the cursor, retitle the terminal, reorder what is shown nor start a line of its own;
  every other character, a backslash too, is shown as it is. terminal_lines() keeps newlines: for our
  own messages (tasks' errors, other modules' notices), never for a host value on its own.
- xml(): characters XML 1.0 cannot hold are shown escaped, so a JUnit file always parses.
- markdown_text(), markdown_code(), markdown_block(): outside code, HTML-escaped and Markdown-escaped on
  one line (no raw tag, link or code span from a host, nor a table cell of its own); inside code, literal
  text in a fence the text cannot close.
- json_text(): what json.dumps(ensure_ascii=False) leaves raw and a viewer would act on, \\u-escaped.
- text_block(): for HTML, whose escaping Jinja's autoescape does: the controls of terminal(), bar newline
  and tab, escaped, so no bidi control reorders a report and no escape sequence reaches a `cat`.
"""

from __future__ import annotations

import html
import re

# C0, DEL and C1; Bidi_Control (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069); the line and
# paragraph separators U+2028/U+2029 (in U+2028-U+202E); and lone surrogates, which no encoder can write.
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_CONTROL_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")  # all but \t and \n
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_RAW_IN_JSON = re.compile(f"[{_BEYOND_C0}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Markdown punctuation that would let host text make a link, an image or a code span (and, in a table,
# a cell of its own).
_MARKDOWN = re.compile(r"([\\`\[\]])")
_MARKDOWN_IN_TABLE = re.compile(r"([\\`\[\]|])")
_BACKTICKS = re.compile(r"`+")


def _escape(match: re.Match) -> str:
    char = match[0]
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def terminal(value) -> str:
    """A host value for the terminal: every control character shown escaped, everything else as it is."""
    return _CONTROL.sub(_escape, str(value))


def terminal_lines(value) -> str:
    """Our own message for the terminal: its newlines kept, every other control character shown escaped."""
    return "\n".join(terminal(line) for line in str(value).split("\n"))


def text_block(value) -> str:
    """Text shown in a block (a diff in the HTML report): newlines and tabs kept, other controls escaped."""
    return _CONTROL_IN_BLOCK.sub(_escape, str(value))


def xml(value) -> str:
    """Text an XML 1.0 document can hold: the characters it cannot are shown escaped."""
    return _NOT_XML.sub(_escape, str(value))


def json_text(text: str) -> str:
    """JSON text from json.dumps(ensure_ascii=False) with DEL, C1, bidi controls, separators and surrogates
    \\u-escaped: they can only stand inside its strings, which read back the same."""
    return _NOT_RAW_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def markdown_text(value, in_table: bool = False) -> str:
    """A value in Markdown prose or a table cell: one line, controls escaped, no HTML, link or code span,
    and in a table no cell of its own."""
    flat = " ".join(str(value).split())  # str.split() also splits at \x1c-\x1f, \x85 and U+2028/U+2029
    escapes = _MARKDOWN_IN_TABLE if in_table else _MARKDOWN
    return escapes.sub(r"\\\1", html.escape(terminal(flat), quote=False))


def backtick_fence(text: str, shortest: int = 1) -> str:
    """A run of backticks longer than any in the text (at least `shortest`): the text cannot close it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text or "")), default=0)
    return "`" * max(shortest, longest + 1)


def markdown_code(value, in_table: bool = False) -> str:
    """A value as an inline code span (shown literally, raw HTML included): one line, controls escaped."""
    text = terminal(" ".join(str(value).split()))
    if in_table:  # GFM splits table cells before code spans: a pipe must be escaped even inside one
        text = text.replace("|", "\\|")
    fence = backtick_fence(text)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_block(text, info: str = "") -> str:
    """A fenced code block of the text (a diff, evidence): its lines and tabs kept, other controls escaped,
    fenced by more backticks than any run in it, so nothing in it can end the block."""
    body = text_block(str(text or "").strip())
    fence = backtick_fence(body, 3)
    return f"{fence}{info}\n{body}\n{fence}"
