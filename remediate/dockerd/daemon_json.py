"""Read daemon.json as the host's dockerd release reads it: what it refuses, the values it keeps, and where.

Every release decodes the file with Go's encoding/json. 20.10 reads the first JSON value and ignores what
follows it; an empty file or a byte order mark stops it. 23.0 and later skip a UTF-8 BOM, decode a UTF-16 one,
read an empty file as {}, and refuse invalid UTF-8 and anything after the object. All refuse NaN and Infinity,
numbers beyond a float64 and a top level that is not an object; a key given twice silently keeps its last value,
which we report.

Validity and values come from Python's json, whose grammar is Go's once NaN and Infinity are refused; one
linear pass over the accepted text then finds each key's line and the duplicate keys. Problems are in our own
words, with line:column; the engine's own words come from `dockerd --validate` (23.0 and later) and from the
journal after a failed start.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from .problems import DuplicateKey, JsonSyntaxError, Problem, Source, to_jsonable
from .versions import Version, at_least

DEFAULT_PATH = "/etc/docker/daemon.json"
# harden rewrites a daemon.json only up to this size: dockerd reads any size, a reviewer cannot.
REVIEW_LIMIT = 1 << 20
# Deeper values are kept out of the model: nothing legitimate nests this far,
# and Python code walking them (reports, JSON output) would hit its recursion limit.
ANALYSED_DEPTH = 64
# Line numbers are kept for keys and list elements this close to the top.
LINE_DEPTH = 3

_WS = re.compile(r"[ \t\n\r]*")
# The tokens of JSON text that json has accepted: strings, punctuation, bare words (numbers, true, false, null).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^ \t\n\r"{}\[\],:]+')
# An escape; a lone surrogate (group 1) is read by Go as U+FFFD, by Python as a character no codec can write.
_ESCAPE = re.compile(
    r"\\(?:u(?:d[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|(d[89a-f][0-9a-f]{2}))|.)", re.IGNORECASE | re.DOTALL
)
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}

Path = tuple  # of str keys and int list indexes


def _after_ws(s: str, pos: int) -> int:
    match = _WS.match(s, pos)
    return match.end() if match else pos


class _NotJson(ValueError):
    """NaN or Infinity: Python's json reads them, Go's does not."""


@dataclass
class _Frame:
    path: Path
    keys: dict[str, list[int]] | None  # an object's keys with the lines they are on; None for a list
    index: int = 0
    key: str | None = None  # the key whose value comes next; None while a key is expected


@dataclass
class _Layout:
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, list[int]]] = field(default_factory=list)
    too_deep: set = field(default_factory=set)  # top-level keys nesting past ANALYSED_DEPTH
    out_of_range: int | None = None  # where the first number beyond a float64 is


class _LineCounter:
    """Line of a position; positions arrive in increasing order, so counting stays linear."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _child(path: Path, part: str | int) -> Path:
    """Paths stop growing past the analysed depth, so deep nesting stays linear."""
    return (*path, part) if len(path) < ANALYSED_DEPTH else path


def _layout(s: str, start: int, end: int, overflow: bool) -> _Layout:
    """Key and element lines, duplicate keys and the deepest nesting, from text json has accepted."""
    out = _Layout()
    lines = _LineCounter(s)
    stack: list[_Frame] = []
    for match in _TOKEN.finditer(s, start, end):
        token, top = match.group(), (stack[-1] if stack else None)
        if token == ",":
            if top is not None and top.keys is None:
                top.index += 1
            elif top is not None:
                top.key = None
            continue
        if token == ":":
            continue
        if token in "}]":
            done = stack.pop()
            out.duplicates += [(_child(done.path, k), v) for k, v in (done.keys or {}).items() if len(v) > 1]
            continue
        if top is not None and top.keys is not None and top.key is None:
            line = lines.at(match.start())
            top.key = token[1:-1] if "\\" not in token else json.loads(token)
            top.keys.setdefault(top.key, []).append(line)
            if len(top.path) < LINE_DEPTH:
                out.lines[(*top.path, top.key)] = line
            continue
        if top is None:
            path: Path = ()
        elif top.keys is None:
            path = _child(top.path, top.index)
            if len(path) <= LINE_DEPTH:
                out.lines[path] = lines.at(match.start())
        else:
            path = _child(top.path, top.key or "")
        if token in "{[":
            stack.append(_Frame(path, {} if token == "{" else None))
            if len(stack) > ANALYSED_DEPTH:
                out.too_deep.add(path[0])
        elif overflow and out.out_of_range is None and token[0] in "-0123456789" and math.isinf(float(token)):
            out.out_of_range = match.start()
    return out


def _number(text: str) -> int | float:
    """Go holds every number in a float64: an infinite float marks one it cannot hold."""
    value = float(text)
    return int(text) if text.lstrip("-").isdigit() and not math.isinf(value) else value


def _position(s: str, pos: int) -> tuple[int, int, str]:
    """1-based line and column of a position, and that line's text (shortened)."""
    start = s.rfind("\n", 0, pos) + 1
    end = s.find("\n", pos)
    text = s[start : len(s) if end < 0 else end].rstrip("\r")
    column = pos - start + 1
    if len(text) > 120:
        left = max(0, column - 60)
        text = ("…" if left else "") + text[left : left + 120] + "…"
    return 1 + s.count("\n", 0, start), column, text


# What Python's json was looking for, in our words.
_EXPECTED = {
    "Expecting value": "a value",
    "Expecting property name enclosed in double quotes": "a key in double quotes",
    "Expecting ':' delimiter": "':' after the key",
    "Expecting ',' delimiter": "',' or the closing bracket",
}


def _syntax_text(error: str, char: str | None) -> str:
    """Why the text is not JSON, with a hint where the usual mistakes are recognised."""
    if char is None:
        return "the file ends before the JSON is complete (a missing '}', ']' or '\"'?)"
    if error.startswith("Invalid control character"):
        return f"a raw {char!r} inside a string — a string is not closed on this line, or holds a control character"
    if error.startswith("Unterminated string"):
        return "a string that is never closed"
    if error.startswith("Invalid"):
        return "an invalid escape sequence in a string"
    text = f"unexpected {char!r}" + (f" where {_EXPECTED[error]} was expected" if error in _EXPECTED else "")
    hint = None
    if char == "'":
        hint = "JSON strings and keys need double quotes"
    elif char in "/#":
        hint = "JSON does not allow comments"
    elif char in "}]" and error in ("Expecting property name enclosed in double quotes", "Expecting value"):
        hint = f"a trailing comma before {char!r}: remove it"
    elif error.startswith("Expecting property name") and char.isalnum():
        hint = "keys must be in double quotes"
    elif error == "Expecting ',' delimiter" and char in '"{[':
        hint = "a comma is missing before this"
    return text + (f" — {hint}" if hint else "")


@dataclass(frozen=True)
class DaemonJson:
    """daemon.json as dockerd reads it.

    values: the top-level object (the last of duplicate keys wins, as in Go),
    {} when the file is missing or empty, None when it cannot be decoded.
    """

    path: str
    exists: bool
    values: dict | None
    problems: tuple[Problem, ...]
    lines: dict[Path, int]

    def line_of(self, *path) -> int | None:
        return self.lines.get(tuple(path))

    def source(self, *path) -> Source:
        return Source(self.path, self.line_of(*path))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "exists": self.exists,
            "values": self.values,
            "lines": {_path_text(p): line for p, line in self.lines.items()},
            "problems": to_jsonable(self.problems),
        }


def _path_text(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Reader:
    """One parse, with the release rules that decide what is fatal."""

    def __init__(self, path: str, version: Version | None):
        self.path = path
        # None (unknown version): judge by the strictest release.
        self.modern = at_least(version, 23)
        self.problems: list[Problem] = []

    def report(self, reason: str, message: str, fatal: bool, line=None, column=None, excerpt=None) -> None:
        where = f"{self.path}:{line}:{column}" if column else f"{self.path}:{line}" if line else self.path
        self.problems.append(
            JsonSyntaxError(
                message=f"{where}: {message}",
                fatal=fatal,
                evidence=(Source(self.path, line),),
                reason=reason,
                line=line,
                column=column,
                excerpt=excerpt,
            )
        )

    def text(self, data: bytes) -> str:
        """The file's text after its byte order mark, as the host's release would read it."""
        for bom, codec in _UTF16_BOMS.items():
            if data.startswith(bom):
                self.report(
                    "bom",
                    f"UTF-16 text with a byte order mark ({codec}); "
                    + ("accepted by dockerd 23.0 and later" if self.modern else "dockerd before 23.0 refuses it"),
                    self.modern is not True,
                    1,
                    1,
                )
                return data[2:].decode(codec, "replace")
        if data.startswith(_UTF8_BOM):
            self.report(
                "bom",
                "starts with a UTF-8 byte order mark (BOM); "
                + (
                    "dockerd 23.0 and later skip it"
                    if self.modern
                    else "dockerd before 23.0 refuses it: save the file as UTF-8 without BOM"
                ),
                self.modern is not True,
                1,
                1,
            )
            data = data[len(_UTF8_BOM) :]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            s = data.decode("utf-8", "replace")
            self.report(
                "utf8",
                f"invalid UTF-8 at byte offset {exc.start}; "
                + (
                    "dockerd 23.0 and later refuse the file"
                    if self.modern is not False
                    else "dockerd before 23.0 reads it as U+FFFD inside strings"
                ),
                self.modern is not False,
                *_position(s, len(data[: exc.start].decode("utf-8", "replace"))),
            )
            return s

    def read(self, data: bytes) -> DaemonJson:
        s = self.text(data)
        start = _after_ws(s, 0)
        if start == len(s):
            self.report(
                "empty",
                "the file is empty; "
                + (
                    "dockerd 23.0 and later read it as {}"
                    if self.modern
                    else "dockerd before 23.0 refuses it: write {} instead"
                ),
                self.modern is not True,
            )
            return self.result({}, {})
        # Lone surrogates made U+FFFD as Go does; the same length, so positions in `s` hold for `go`.
        go = _ESCAPE.sub(lambda m: "\\ufffd" if m.group(1) else m.group(), s) if "\\" in s else s
        overflow = []

        def number(text: str) -> int | float:
            value = _number(text)
            if isinstance(value, float) and math.isinf(value):
                overflow.append(text)
            return value

        def constant(name: str):
            raise _NotJson(name)

        decoder = json.JSONDecoder(parse_int=number, parse_float=number, parse_constant=constant)
        try:
            value, end = decoder.raw_decode(go, start)
        except json.JSONDecodeError as exc:
            char = s[exc.pos] if exc.pos < len(s) else None
            self.report("syntax", _syntax_text(exc.msg, char), True, *_position(s, exc.pos))
            return self.result(None, {})
        except _NotJson as exc:
            at = next((m.start() for m in _TOKEN.finditer(s, start) if m.group().startswith(str(exc))), start)
            self.report("syntax", f"{exc} is not a JSON value", True, *_position(s, at))
            return self.result(None, {})
        except RecursionError:
            self.report("too-deep", "nested too deep for remediate to read (about 1000 levels); not analysed", False)
            return self.result(None, {})
        self.trailing(s, end)
        if not isinstance(value, dict) and value is not None:
            kind = {bool: "true or false", str: "a string", list: "a list"}.get(type(value), "a number")
            self.report("not-object", f"the top level is {kind}, not an object {{...}}", True, *_position(s, start))
            return self.result(None, {})
        layout = _layout(go, start, end, bool(overflow))
        if layout.out_of_range is not None:
            shown = overflow[0] if len(overflow[0]) <= 40 else overflow[0][:20] + "…" + overflow[0][-10:]
            self.report(
                "number-range",
                f"the number {shown} is beyond what dockerd can hold (a float64, up to about 1.8e308); "
                "dockerd refuses the file",
                True,
                *_position(s, layout.out_of_range),
            )
            return self.result(None, layout.lines)
        values = value or {}
        for key in layout.too_deep:
            values[key] = f"<nested deeper than {ANALYSED_DEPTH} levels: not analysed>"
            message = f"the value of {key!r} nests deeper than {ANALYSED_DEPTH} levels; not analysed"
            self.report("too-deep", message, False, layout.lines.get((key,)))
        for key_path, key_lines in layout.duplicates:
            name = _path_text(key_path)
            self.problems.append(
                DuplicateKey(
                    message=f"{self.path}: {name!r} is set {len(key_lines)} times "
                    f"(lines {', '.join(map(str, key_lines))}); dockerd silently keeps the last one "
                    f"(line {key_lines[-1]})",
                    fatal=False,
                    evidence=tuple(Source(self.path, n) for n in key_lines),
                    key=name,
                    lines=tuple(key_lines),
                )
            )
        return self.result(values, layout.lines)

    def trailing(self, s: str, end: int) -> None:
        rest = _after_ws(s, end)
        if rest >= len(s):
            return
        if self.modern is False:
            message = "text after the JSON object is ignored by dockerd before 23.0 (23.0 and later refuse the file)"
        else:
            message = f"unexpected {s[rest]!r} after the JSON object"
        self.report(
            "trailing-data", message + ": keep one object per file", self.modern is not False, *_position(s, rest)
        )

    def result(self, values: dict | None, lines: dict) -> DaemonJson:
        return DaemonJson(self.path, True, values, tuple(self.problems), lines)


def parse_daemon_json(data: bytes | None, path: str = DEFAULT_PATH, version: Version | None = None) -> DaemonJson:
    """daemon.json bytes (None: no file) as the dockerd `version` would read them."""
    if data is None:
        return DaemonJson(path, False, {}, (), {})
    return _Reader(path, version).read(data)
