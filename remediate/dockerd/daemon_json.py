"""Read daemon.json the way dockerd does, and say what is wrong the way a person needs it.

dockerd decodes the file with Go's encoding/json: 20.10 with a json.Decoder
(first value only, trailing data ignored, an empty file is "EOF", a BOM is an
invalid character), 23.0 and later with json.Unmarshal after decoding a UTF-8
or UTF-16 BOM and validating UTF-8 (empty file = no settings). Duplicate keys
are legal in Go: the last one wins silently, which we report.

The scanner below follows Go's scanner state by state so its error texts are
Go's own ("invalid character '}' looking for beginning of object key string"),
and adds what Go leaves out: line, column and a hint. It works on the bytes
read as Latin-1 (one character per byte, as Go's scanner reports bytes), is
iterative (no recursion on deep nesting) and linear in the file size.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from .golang import quote_char
from .problems import DuplicateKey, JsonSyntaxError, Problem, Source, to_jsonable
from .versions import Version, at_least

DEFAULT_PATH = "/etc/docker/daemon.json"
# harden rewrites a daemon.json only up to this size: dockerd reads any size, a reviewer cannot.
REVIEW_LIMIT = 1 << 20

# Go's encoding/json refuses nesting deeper than this (maxNestingDepth).
GO_MAX_DEPTH = 10000
# Deeper values are kept out of the model: nothing legitimate nests this far,
# and Python code walking them (reports, JSON output) would hit its recursion limit.
ANALYSED_DEPTH = 64
# Line numbers are kept for keys and list elements this close to the top.
LINE_DEPTH = 3

_WS = re.compile(r"[ \t\n\r]*")
_STRING_BODY = r'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
_STRING = re.compile(_STRING_BODY + '"')
_STRING_PREFIX = re.compile(_STRING_BODY)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}

Path = tuple  # of str keys and int list indexes


class _Syntax(Exception):
    def __init__(self, pos: int, context: str | None):
        super().__init__(context)
        self.pos = pos
        self.context = context  # None: the input ended early


@dataclass
class _Frame:
    container: dict | list
    path: Path
    key: str | None = None
    seen: dict[str, list[int]] = field(default_factory=dict)


class _LineCounter:
    """Line of a position; positions arrive in increasing order, so counting stays linear."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:
            return 1 + self.text.count("\n", 0, pos)
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


@dataclass
class _Document:
    value: object = None
    end: int = 0
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, list[int]]] = field(default_factory=list)
    too_deep: set[str] = field(default_factory=set)
    out_of_range: tuple[int, str] | None = None  # the first number float64 cannot hold: position, text


def _decode_string(raw: str) -> str:
    text = _utf8(raw)
    if "\\" not in text:
        return text[1:-1]
    return _SURROGATE.sub("\ufffd", json.loads(text))


def _scan_string(s: str, pos: int) -> tuple[str, int]:
    match = _STRING.match(s, pos)
    if match:
        return _decode_string(match.group()), match.end()
    bad = _STRING_PREFIX.match(s, pos).end()
    if bad >= len(s):
        raise _Syntax(bad, None)
    if s[bad] != "\\":
        raise _Syntax(bad, "in string literal")
    if bad + 1 >= len(s):
        raise _Syntax(bad + 1, None)
    if s[bad + 1] != "u":
        raise _Syntax(bad + 1, "in string escape code")
    for i in range(bad + 2, bad + 6):
        if i >= len(s):
            raise _Syntax(i, None)
        if s[i] not in "0123456789abcdefABCDEF":
            raise _Syntax(i, "in \\u hexadecimal character escape")
    raise AssertionError("unreachable: string regex and prefix disagree")


def _scan_number(s: str, pos: int) -> tuple[int | float, int]:
    match = _NUMBER.match(s, pos)
    if not match:
        raise _Syntax(pos + 1, "in numeric literal") if pos + 1 < len(s) else _Syntax(pos + 1, None)
    end = match.end()
    fraction, exponent = match.groups()
    if end < len(s) and not fraction and not exponent and s[end] == ".":
        raise _Syntax(end + 1, "after decimal point in numeric literal") if end + 1 < len(s) else _Syntax(end + 1, None)
    if end < len(s) and not exponent and s[end] in "eE":
        after = end + 1 + (end + 1 < len(s) and s[end + 1] in "+-")
        raise _Syntax(after, "in exponent of numeric literal") if after < len(s) else _Syntax(after, None)
    text = match.group()
    number = float(text)
    if math.isinf(number):
        return number, end  # beyond float64: Go refuses it (and int() refuses over 4300 digits)
    return (number if fraction or exponent else int(text)), end


def _scan_literal(s: str, pos: int) -> tuple[object, int]:
    word = {"t": "true", "f": "false", "n": "null"}[s[pos]]
    for i in range(1, len(word)):
        if pos + i >= len(s):
            raise _Syntax(pos + i, None)
        if s[pos + i] != word[i]:
            raise _Syntax(pos + i, f"in literal {word} (expecting {quote_char(ord(word[i]))})")
    return {"true": True, "false": False, "null": None}[word], pos + len(word)


def _child(path: Path, part: str | int) -> Path:
    """Paths stop growing past the analysed depth, so deep nesting stays linear."""
    return path + (part,) if len(path) < ANALYSED_DEPTH else path


def _parse(s: str) -> _Document:
    """One JSON value from the start of `s`, with key lines and duplicate keys."""
    doc = _Document()
    lines = _LineCounter(s)
    n = len(s)
    stack: list[_Frame] = []
    path: Path = ()
    pos = _WS.match(s, 0).end()
    state = "value"
    value: object = None
    while True:
        if state == "value":
            if pos >= n:
                raise _Syntax(pos, None)
            c = s[pos]
            if path and isinstance(path[-1], int) and len(path) <= LINE_DEPTH:
                doc.lines[path] = lines.at(pos)
            if c in "{[":
                if len(stack) >= GO_MAX_DEPTH:
                    raise _Syntax(pos, "exceeded max depth")
                if len(stack) >= ANALYSED_DEPTH:
                    doc.too_deep.add(path[0])
                frame = _Frame({} if c == "{" else [], path)
                stack.append(frame)
                pos = _WS.match(s, pos + 1).end()
                closing = "}" if c == "{" else "]"
                if pos < n and s[pos] == closing:
                    stack.pop()
                    value, pos, state = frame.container, pos + 1, "after"
                elif c == "{":
                    state = "key"
                else:
                    path = _child(frame.path, 0)
                continue
            if c == '"':
                value, pos = _scan_string(s, pos)
            elif c == "-" or "0" <= c <= "9":
                start = pos
                value, pos = _scan_number(s, pos)
                if isinstance(value, float) and math.isinf(value) and doc.out_of_range is None:
                    doc.out_of_range = (start, s[start:pos])
            elif c in "tfn":
                value, pos = _scan_literal(s, pos)
            else:
                raise _Syntax(pos, "looking for beginning of value")
            state = "after"
        elif state == "key":
            frame = stack[-1]
            if pos >= n:
                raise _Syntax(pos, None)
            if s[pos] != '"':
                raise _Syntax(pos, "looking for beginning of object key string")
            line = lines.at(pos)
            frame.key, pos = _scan_string(s, pos)
            path = _child(frame.path, frame.key)
            frame.seen.setdefault(frame.key, []).append(line)
            if len(path) <= LINE_DEPTH:
                doc.lines[path] = line
            pos = _WS.match(s, pos).end()
            if pos >= n:
                raise _Syntax(pos, None)
            if s[pos] != ":":
                raise _Syntax(pos, "after object key")
            pos = _WS.match(s, pos + 1).end()
            state = "value"
        else:
            if not stack:
                doc.value, doc.end = value, pos
                return doc
            frame = stack[-1]
            if isinstance(frame.container, dict):
                frame.container[frame.key] = value
            else:
                frame.container.append(value)
            pos = _WS.match(s, pos).end()
            if pos >= n:
                raise _Syntax(pos, None)
            c = s[pos]
            if c == ",":
                pos = _WS.match(s, pos + 1).end()
                if isinstance(frame.container, dict):
                    state = "key"
                else:
                    path, state = _child(frame.path, len(frame.container)), "value"
            elif c == ("}" if isinstance(frame.container, dict) else "]"):
                stack.pop()
                doc.duplicates += [(_child(frame.path, k), v) for k, v in frame.seen.items() if len(v) > 1]
                value, pos = frame.container, pos + 1
            else:
                raise _Syntax(
                    pos, "after object key:value pair" if isinstance(frame.container, dict) else "after array element"
                )


def _utf8(latin1: str) -> str:
    return latin1.encode("latin-1").decode("utf-8", "replace")


def _position(s: str, pos: int) -> tuple[int, int, str]:
    """1-based line and character column of a byte position, and that line's text (shortened)."""
    start = s.rfind("\n", 0, pos) + 1
    end = s.find("\n", pos)
    end = len(s) if end < 0 else end
    column = len(_utf8(s[start:pos])) + 1
    text = _utf8(s[start:end]).rstrip("\r")
    if len(text) > 120:
        left = max(0, column - 60)
        text = ("…" if left else "") + text[left : left + 120] + "…"
    return 1 + s.count("\n", 0, start), column, text


def _hint(context: str | None, char: str | None) -> str | None:
    if context is None:
        return "the file ends before the JSON is complete (a missing '}', ']' or '\"'?)"
    if char == "'":
        return "JSON strings and keys need double quotes"
    if char in ("/", "#"):
        return "JSON does not allow comments"
    if context == "looking for beginning of object key string" and char == "}":
        return "a trailing comma before '}': remove it"
    if context == "looking for beginning of value" and char == "]":
        return "a trailing comma before ']': remove it"
    if context == "looking for beginning of object key string" and char and char.isalnum():
        return "keys must be in double quotes"
    if context in ("after object key:value pair", "after array element") and char in ('"', "{", "["):
        return "a comma is missing before this"
    if context == "in string literal":
        return "a string is not closed on this line, or holds a raw control character"
    if context == "exceeded max depth":
        return f"nested deeper than Go's limit of {GO_MAX_DEPTH} levels"
    return None


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
    """One parse, with the version rules that decide what is fatal."""

    def __init__(self, path: str, version: Version | None):
        self.path = path
        # None (unknown version): judge by the strictest release.
        self.modern = at_least(version, 23)
        self.problems: list[Problem] = []

    def dockerd(self, error: str) -> str:
        return f"unable to configure the Docker daemon with file {self.path}: {error}"

    def report(
        self, reason: str, message: str, fatal: bool, error: str | None = None, line=None, column=None, excerpt=None
    ):
        where = f"{self.path}:{line}:{column}" if line else self.path
        self.problems.append(
            JsonSyntaxError(
                message=f"{where}: {message}",
                fatal=fatal,
                evidence=(Source(self.path, line),),
                dockerd_message=self.dockerd(error) if error and fatal else None,
                reason=reason,
                line=line,
                column=column,
                excerpt=excerpt,
            )
        )

    def decode_encoding(self, data: bytes) -> bytes:
        """Strip or decode a BOM, and check UTF-8, as the host's release would."""
        for bom, codec in _UTF16_BOMS.items():
            if data.startswith(bom):
                self.report(
                    "bom",
                    f"UTF-16 text with a byte order mark ({codec}); "
                    + ("accepted by dockerd 23.0 and later" if self.modern else "dockerd before 23.0 refuses it"),
                    fatal=self.modern is not True,
                    error=f"invalid character {quote_char(data[0])} looking for beginning of value",
                    line=1,
                    column=1,
                )
                return data[2:].decode(codec, "replace").encode("utf-8")
        if data.startswith(_UTF8_BOM):
            self.report(
                "bom",
                "starts with a UTF-8 byte order mark (BOM); "
                + (
                    "dockerd 23.0 and later skip it"
                    if self.modern
                    else "dockerd before 23.0 refuses it: save the file as UTF-8 without BOM"
                ),
                fatal=self.modern is not True,
                error="invalid character 'ï' looking for beginning of value",
                line=1,
                column=1,
            )
            data = data[len(_UTF8_BOM) :]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column, excerpt = _position(data.decode("latin-1"), exc.start)
            self.report(
                "utf8",
                f"invalid UTF-8 at byte offset {exc.start}; "
                + (
                    "dockerd 23.0 and later refuse the file"
                    if self.modern is not False
                    else "dockerd before 23.0 reads it as U+FFFD inside strings"
                ),
                fatal=self.modern is not False,
                error=f"failed to decode configuration JSON at offset {exc.start}: encoding: invalid UTF-8",
                line=line,
                column=column,
                excerpt=excerpt,
            )
        return data

    def syntax(self, s: str, exc: _Syntax) -> None:
        if exc.context is None:
            line, column, excerpt = _position(s, min(exc.pos, len(s)))
            error = "unexpected end of JSON input" if self.modern else "unexpected EOF"
            self.report("syntax", f"{error} — {_hint(None, None)}", True, error, line, column, excerpt)
            return
        char = s[exc.pos]
        error = f"invalid character {quote_char(ord(char))} {exc.context}"
        hint = _hint(exc.context, char)
        line, column, excerpt = _position(s, exc.pos)
        reason = "too-deep" if exc.context == "exceeded max depth" else "syntax"
        self.report(reason, error + (f" — {hint}" if hint else ""), True, error, line, column, excerpt)

    def read(self, data: bytes) -> DaemonJson:
        s = self.decode_encoding(data).decode("latin-1")
        if not s.strip(" \t\n\r"):
            self.report(
                "empty",
                "the file is empty; "
                + (
                    "dockerd 23.0 and later read it as {}"
                    if self.modern
                    else 'dockerd before 23.0 refuses it with "EOF": write {} instead'
                ),
                fatal=self.modern is not True,
                error="EOF",
            )
            return self.result({}, {})
        try:
            doc = _parse(s)
        except _Syntax as exc:
            self.syntax(s, exc)
            return self.result(None, {})
        self.trailing(s, doc.end)
        values = self.top_level(doc.value)
        if values is not None and doc.out_of_range:
            self.number_range(s, *doc.out_of_range)
            return self.result(None, doc.lines)
        for key in doc.too_deep:
            if values is not None and key in values:
                values[key] = f"<nested deeper than {ANALYSED_DEPTH} levels: not analysed>"
                self.report(
                    "too-deep",
                    f"the value of {key!r} nests deeper than {ANALYSED_DEPTH} levels; it was not analysed",
                    False,
                    line=doc.lines.get((key,)),
                )
        for key_path, key_lines in doc.duplicates:
            name = _path_text(key_path)
            self.problems.append(
                DuplicateKey(
                    message=f"{self.path}: {name!r} is set {len(key_lines)} times (lines {', '.join(map(str, key_lines))}); "
                    f"dockerd silently keeps the last one (line {key_lines[-1]})",
                    fatal=False,
                    evidence=tuple(Source(self.path, n) for n in key_lines),
                    key=name,
                    lines=tuple(key_lines),
                )
            )
        return self.result(values, doc.lines)

    def trailing(self, s: str, end: int) -> None:
        rest = _WS.match(s, end).end()
        if rest >= len(s):
            return
        line, column, excerpt = _position(s, rest)
        error = f"invalid character {quote_char(ord(s[rest]))} after top-level value"
        if self.modern is False:
            self.report(
                "trailing-data",
                "text after the JSON object is ignored by dockerd before 23.0 "
                "(23.0 and later refuse the file): keep one object",
                False,
                None,
                line,
                column,
                excerpt,
            )
        else:
            self.report("trailing-data", f"{error} — keep one JSON object per file", True, error, line, column, excerpt)

    def number_range(self, s: str, pos: int, text: str) -> None:
        """Go decodes numbers as float64 and refuses the whole file when one does not fit."""
        line, column, excerpt = _position(s, pos)
        shown = text if len(text) <= 40 else text[:20] + "…" + text[-10:]
        error = f"json: cannot unmarshal number {text} into Go value of type float64"
        self.report(
            "number-range",
            f"the number {shown} is beyond what dockerd can hold (a float64, up to about "
            "1.8e308); dockerd refuses the file",
            True,
            error,
            line,
            column,
            excerpt,
        )

    def top_level(self, value: object) -> dict | None:
        if isinstance(value, dict):
            return value
        if value is None:
            return {}
        kind = {bool: "bool", str: "string", list: "array"}.get(type(value), "number")
        error = f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        self.report("not-object", f"the top level is a JSON {kind}, not an object {{...}}", True, error, 1, 1)
        return None

    def result(self, values: dict | None, lines: dict) -> DaemonJson:
        return DaemonJson(self.path, True, values, tuple(self.problems), lines)


def parse_daemon_json(data: bytes | None, path: str = DEFAULT_PATH, version: Version | None = None) -> DaemonJson:
    """daemon.json bytes (None: no file) as the dockerd `version` would read them."""
    if data is None:
        return DaemonJson(path, False, {}, (), {})
    return _Reader(path, version).read(data)
