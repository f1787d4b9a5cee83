"""Properties of the daemon.json reader: what dockerd decodes we decode; what it refuses we explain, with a place.

Python's json module is the reference for validity and values, adjusted where Go
differs on purpose: NaN/Infinity are not JSON, a lone surrogate escape decodes
to U+FFFD, a number beyond float64 makes Go refuse the whole file.
"""

from __future__ import annotations

import json
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd import parse_daemon_json
from remediate.plan.daemon_json import json_equal

V20 = (20, 10, 24)
V23 = (24, 0, 7)
VERSIONS = st.sampled_from([V20, V23, None])

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
NUMBERS = st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
OBJECTS = st.dictionaries(TEXT, VALUES, max_size=6)
LAYOUTS = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t"]),
        "ensure_ascii": st.booleans(),
        "separators": st.sampled_from([None, (",", ":"), (" , ", " :\n ")]),
    }
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def go_reference(text: str):
    """What Go's decoder yields for valid JSON text (ValueError when it refuses it)."""

    def refuse(constant):
        raise ValueError(constant)

    def as_go(value):
        if isinstance(value, str):
            return _SURROGATE.sub("\ufffd", value)
        if isinstance(value, list):
            return [as_go(v) for v in value]
        if isinstance(value, dict):
            return {as_go(k): as_go(v) for k, v in value.items()}
        if isinstance(value, float) and math.isinf(value):
            raise ValueError("beyond float64")
        return value

    return as_go(json.loads(text, parse_constant=refuse))


def assert_placed(doc, text: str) -> None:
    """Every problem that names a line names one that exists, a column on it, and quotes that line."""
    lines = text.split("\n")
    for problem in doc.problems:
        line = getattr(problem, "line", None)
        if line is None:
            continue
        assert 1 <= line <= len(lines), problem
        shown = lines[line - 1].rstrip("\r")
        assert 1 <= problem.column <= len(shown) + 1, problem
        assert problem.message.startswith(f"{doc.path}:{line}:{problem.column}: "), problem.message
        if problem.excerpt is not None and len(shown) <= 120:
            assert problem.excerpt == shown


@settings(max_examples=80, deadline=None)
@given(OBJECTS, LAYOUTS, VERSIONS)
def test_any_json_object_reads_back_to_the_same_values(value, layout, version):
    text = json.dumps(value, **layout)
    doc = parse_daemon_json(text.encode(), version=version)
    assert doc.problems == ()
    assert json_equal(doc.values, value)


@settings(max_examples=60, deadline=None)
@given(OBJECTS.filter(bool), st.booleans())
def test_top_level_keys_carry_the_line_they_are_written_on(value, ensure_ascii):
    text = json.dumps(value, indent=2, ensure_ascii=ensure_ascii)
    lines = text.split("\n")
    doc = parse_daemon_json(text.encode(), version=V23)
    for key in value:
        written = "  " + json.dumps(key, ensure_ascii=ensure_ascii) + ":"
        assert doc.line_of(key) == 1 + next(i for i, line in enumerate(lines) if line.startswith(written))


_EDITS = st.sampled_from(list("{}[]\":,.-+eE019 \n\t\\/#'tfnu\x00\x1fé"))


@settings(max_examples=200, deadline=None)
@given(OBJECTS, LAYOUTS, st.data())
def test_agrees_with_the_reference_decoder_on_damaged_documents(value, layout, data):
    text = json.dumps(value, **layout)
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(text)))
        delete = data.draw(st.booleans())
        text = text[:at] + text[at + 1 :] if delete else text[:at] + data.draw(_EDITS) + text[at:]
    doc = parse_daemon_json(text.encode(), version=V23)
    fatal = [p for p in doc.problems if p.fatal]
    try:
        expected = go_reference(text)
    except (ValueError, RecursionError):
        assert fatal or not text.strip(" \t\n\r"), text
    else:
        if isinstance(expected, dict):
            assert not fatal and doc.values == expected, (text, doc.problems)
        elif expected is None:
            assert doc.values == {}
        else:
            assert doc.values is None and [p.reason for p in fatal] == ["not-object"]
    assert_placed(doc, text)


_DIGIT_RUNS = st.builds(
    lambda head, n, tail: head + b"9" * n + tail,
    st.sampled_from([b'{"a": ', b'{"a": [-', b'{"a": 1e', b'{"a": 0.']),
    st.integers(0, 6000),
    st.sampled_from([b"", b"}", b"]}", b".5}", b"e9}"]),
)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | _DIGIT_RUNS, VERSIONS)
def test_arbitrary_bytes_never_crash_and_every_problem_has_a_place(data, version):
    doc = parse_daemon_json(data, version=version)
    assert doc.values is not None or any(p.fatal for p in doc.problems)
    json.dumps(doc.to_dict(), allow_nan=False)
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        assert_placed(doc, body.decode("utf-8", "replace"))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6000), st.sampled_from(["", "-"]))
def test_numbers_beyond_float64_are_refused_like_go_and_smaller_ones_kept_exactly(digits, sign):
    number = sign + "1" + "0" * (digits - 1)
    before = '{"max-concurrent-downloads": '
    doc = parse_daemon_json(f"{before}{number}}}".encode(), version=V20)
    if math.isinf(float(number)):
        [problem] = doc.problems
        assert (problem.reason, problem.fatal, problem.line, problem.column) == (
            "number-range",
            True,
            1,
            len(before) + 1,
        )
        assert "beyond what dockerd can hold" in problem.message
        assert doc.values is None
    else:
        assert doc.problems == () and doc.values == {"max-concurrent-downloads": int(number)}


@settings(max_examples=40, deadline=None)
@given(OBJECTS, VERSIONS)
def test_a_utf8_bom_is_diagnosed_and_the_values_still_read(value, version):
    doc = parse_daemon_json(b"\xef\xbb\xbf" + json.dumps(value).encode(), version=version)
    [problem] = doc.problems
    assert problem.reason == "bom" and (problem.line, problem.column) == (1, 1)
    assert problem.fatal == (version != V23)
    assert json_equal(doc.values, value)


@settings(max_examples=30, deadline=None)
@given(st.text(" \t\n\r", max_size=20), VERSIONS)
def test_an_empty_file_is_diagnosed_as_empty(text, version):
    doc = parse_daemon_json(text.encode(), version=version)
    [problem] = doc.problems
    assert problem.reason == "empty" and problem.fatal == (version != V23) and doc.values == {}


@settings(max_examples=60, deadline=None)
@given(OBJECTS.filter(bool), st.sampled_from(["// why", "# why", "/* why */"]), st.data())
def test_a_comment_anywhere_between_tokens_is_diagnosed_on_its_line(value, comment, data):
    lines = json.dumps(value, indent=2).split("\n")
    at = data.draw(st.integers(1, len(lines) - 1))
    text = "\n".join([*lines[:at], "  " + comment, *lines[at:]])
    doc = parse_daemon_json(text.encode(), version=V23)
    [problem] = doc.problems
    assert problem.fatal and problem.reason == "syntax" and "JSON does not allow comments" in problem.message
    assert (problem.line, problem.column, doc.values) == (at + 1, 3, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["debug", "hosts", "log-level", "é", ""]), VALUES), min_size=1, max_size=8))
def test_duplicate_keys_are_diagnosed_with_every_line_and_the_last_wins(pairs):
    text = "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "\n}"
    doc = parse_daemon_json(text.encode(), version=V23)
    assert json_equal(doc.values, dict(pairs))
    expected = {}
    for line, (key, _) in enumerate(pairs, start=2):
        expected.setdefault(key, []).append(line)
    duplicates = {p.key: list(p.lines) for p in doc.problems if p.kind == "DuplicateKey"}
    assert duplicates == {k: v for k, v in expected.items() if len(v) > 1}
    assert not any(p.fatal for p in doc.problems)
