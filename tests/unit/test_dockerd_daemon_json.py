"""daemon.json read as dockerd 20.10 and 23+ read it: what each refuses, the values it keeps, and where."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd import JsonSyntaxError, parse_daemon_json

V20 = (20, 10, 24)
V23 = (23, 0, 18)
PATH = "/etc/docker/daemon.json"


def only(doc, kind=JsonSyntaxError):
    problems = [p for p in doc.problems if isinstance(p, kind)]
    assert len(problems) == 1, doc.problems
    return problems[0]


def test_missing_file_is_no_settings():
    doc = parse_daemon_json(None, version=V20)
    assert (doc.exists, doc.values, doc.problems) == (False, {}, ())


def test_key_lines_are_kept_for_evidence():
    doc = parse_daemon_json(
        b'{\n  "debug": true,\n  "hosts": [\n    "unix:///var/run/docker.sock",\n'
        b'    "tcp://0.0.0.0:2375"\n  ],\n  "log-opts": {"max-size": "10m"}\n}\n',
        version=V20,
    )
    assert doc.values["hosts"][1] == "tcp://0.0.0.0:2375"
    assert doc.line_of("debug") == 2
    assert doc.line_of("hosts") == 3
    assert doc.line_of("hosts", 1) == 5
    assert doc.line_of("log-opts", "max-size") == 7
    assert str(doc.source("hosts", 1)) == f"{PATH}:5"
    assert doc.problems == ()


def test_trailing_comma_has_line_column_text_and_hint():
    problem = only(parse_daemon_json(b'{\n  "log-level": "info",\n}\n', version=V20))
    assert problem.fatal and problem.reason == "syntax"
    assert (problem.line, problem.column, problem.excerpt) == (3, 1, "}")
    assert problem.message.startswith(f"{PATH}:3:1: ")
    assert "trailing comma" in problem.message
    assert problem.kind == "SyntaxError"


def test_column_counts_characters_not_bytes():
    problem = only(parse_daemon_json('{"labels": ["é=ü"] "x": 1}'.encode(), version=V20))
    assert (problem.line, problem.column) == (1, 20)
    assert "comma is missing" in problem.message


@pytest.mark.parametrize(
    "text, column, hint",
    [
        (b"{'a': 1}", 2, "double quotes"),
        (b'{"a": 1, // note\n}', 10, "comments"),
        (b'{"a": [1,]}', 10, "trailing comma"),
        (b'{"a" 1}', 6, "':' after the key"),
        (b'{"a": tru}', 7, "a value was expected"),
        (b'{"a": "x\n"}', 9, "not closed"),
        (b'{"a": "\\q"}', 8, "invalid escape"),
        (b'{"a": 1.}', 8, None),
        (b"{debug: true}", 2, "keys must be in double quotes"),
        (b'{"a": NaN}', 7, "NaN is not a JSON value"),
    ],
)
def test_syntax_errors_are_refused_at_their_place_with_a_hint(text, column, hint):
    for version in (V20, V23):
        problem = only(parse_daemon_json(text, version=version))
        assert problem.fatal and problem.reason == "syntax" and (problem.line, problem.column) == (1, column)
        assert problem.message.startswith(f"{PATH}:1:{column}: ")
        if hint:
            assert hint in problem.message


def test_a_truncated_file_is_refused_by_every_release():
    for version in (V20, V23):
        problem = only(parse_daemon_json(b'{"a": [1', version=version))
        assert problem.fatal and "ends before the JSON is complete" in problem.message


@pytest.mark.parametrize("text", [b"", b" \n\t\n"])
def test_empty_file_refused_by_20_10_accepted_by_23(text):
    old = only(parse_daemon_json(text, version=V20))
    assert old.fatal and old.reason == "empty" and "write {} instead" in old.message
    new = only(parse_daemon_json(text, version=V23))
    assert not new.fatal
    assert parse_daemon_json(text, version=V23).values == {}


def test_utf8_bom_refused_by_20_10_skipped_by_23():
    data = b'\xef\xbb\xbf{"debug": true}'
    old = parse_daemon_json(data, version=V20)
    problem = only(old)
    assert problem.fatal and problem.reason == "bom" and (problem.line, problem.column) == (1, 1)
    assert old.values == {"debug": True}
    new = parse_daemon_json(data, version=V23)
    assert not only(new).fatal and new.values == {"debug": True}


def test_utf16_bom_decoded_on_23():
    data = '{"debug": true}'.encode("utf-16")
    assert parse_daemon_json(data, version=V23).values == {"debug": True}
    assert only(parse_daemon_json(data, version=V20)).fatal


def test_duplicate_keys_reported_with_all_lines_last_wins():
    doc = parse_daemon_json(b'{\n "log-level": "info",\n "debug": false,\n "log-level": "debug"\n}', version=V20)
    assert doc.values["log-level"] == "debug"
    assert doc.line_of("log-level") == 4
    dup = next(p for p in doc.problems if p.kind == "DuplicateKey")
    assert (dup.key, dup.lines, dup.fatal) == ("log-level", (2, 4), False)
    assert "silently keeps the last one (line 4)" in dup.message


def test_nested_duplicate_keys_are_reported_too():
    doc = parse_daemon_json(b'{"log-opts": {"max-size": "1m", "max-size": "2m"}}', version=V20)
    assert doc.values["log-opts"] == {"max-size": "2m"}
    assert [p.key for p in doc.problems] == ["log-opts.max-size"]


@pytest.mark.parametrize(
    "text, kind", [(b"[]", "a list"), (b'"x"', "a string"), (b" 3", "a number"), (b"true", "true")]
)
def test_top_level_must_be_an_object(text, kind):
    problem = only(parse_daemon_json(text, version=V20))
    assert problem.reason == "not-object" and problem.fatal
    assert f"the top level is {kind}" in problem.message and problem.column == len(text) - len(text.lstrip()) + 1


def test_null_document_is_no_settings():
    assert parse_daemon_json(b"null", version=V20).values == {}


def test_second_object_ignored_by_20_10_refused_by_23():
    data = b'{"ipv6": true}\n{"ip6tables": true}\n'
    old = parse_daemon_json(data, version=V20)
    assert old.values == {"ipv6": True}
    assert not only(old).fatal and only(old).line == 2
    new = only(parse_daemon_json(data, version=V23))
    assert new.fatal and (new.line, new.column) == (2, 1)


def test_unknown_version_judged_by_strictest_release():
    assert only(parse_daemon_json(b"", version=None)).fatal
    assert only(parse_daemon_json(b"{}{}", version=None)).fatal


def test_invalid_utf8_in_a_string():
    data = b'{"labels": ["a=\xff"]}'
    old = parse_daemon_json(data, version=V20)
    assert old.values == {"labels": ["a=\ufffd"]}
    assert not only(old).fatal
    new = only(parse_daemon_json(data, version=V23))
    assert new.fatal and new.reason == "utf8"
    assert (new.line, new.column) == (1, 16) and "byte offset 15" in new.message


def test_binary_garbage():
    doc = parse_daemon_json(bytes(range(256)) * 4, version=V20)
    assert doc.values is None
    assert any(p.fatal and p.reason == "syntax" for p in doc.problems)
    [syntax] = [p for p in doc.problems if p.reason == "syntax"]
    assert (syntax.line, syntax.column) == (1, 1) and "'\\x00'" in syntax.message


def test_escapes_and_unicode_decode_like_go():
    doc = parse_daemon_json(b'{"a": "tab\\there \\u00e9 \\ud83d\\ude00 \\ud800"}', version=V20)
    assert doc.values["a"] == "tab\there é 😀 \ufffd"


def test_numbers_keep_int_and_float_apart():
    assert parse_daemon_json(b'{"mtu": 1500, "x": 1.5, "y": 1e3, "z": -0}', version=V20).values == {
        "mtu": 1500,
        "x": 1.5,
        "y": 1000.0,
        "z": 0,
    }


def test_depth_beyond_what_remediate_reads_and_analysed_depth():
    """Go reads 10000 levels, Python's json about 1000: deeper files are not analysed (harden will not rewrite
    them, values being None), and are not called fatal."""
    doc = parse_daemon_json(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", version=V20)
    too_deep = only(doc)
    assert too_deep.reason == "too-deep" and not too_deep.fatal and doc.values is None
    deep = parse_daemon_json(b'{"debug": true, "a": ' + b"[" * 500 + b"]" * 500 + b"}", version=V20)
    assert deep.values["debug"] is True
    assert "not analysed" in deep.values["a"]
    assert not only(deep).fatal
    json.dumps(deep.to_dict())


def test_huge_file_is_linear():
    data = json.dumps({"labels": [f"k{i}=v" for i in range(30_000)], "x": "a" * 2_000_000}, indent=1).encode()
    start = time.perf_counter()
    doc = parse_daemon_json(data, version=V20)
    assert time.perf_counter() - start < 1
    assert len(doc.values["labels"]) == 30_000
    assert doc.line_of("labels", 29_999) == 30_002


def test_to_dict_is_json():
    doc = parse_daemon_json(b'{\n "hosts": ["fd://"],\n}', version=V20)
    out = json.loads(json.dumps(doc.to_dict()))
    assert out["problems"][0]["kind"] == "SyntaxError"
    assert out["problems"][0]["line"] == 3


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.sampled_from([None, 2]))
def test_valid_json_objects_round_trip(value, indent):
    doc = parse_daemon_json(json.dumps(value, indent=indent).encode(), version=V23)
    assert doc.problems == ()
    assert doc.values == value


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([V20, V23, None]))
def test_never_crashes_on_arbitrary_bytes(data, version):
    doc = parse_daemon_json(data, version=version)
    assert doc.values is not None or any(p.fatal for p in doc.problems)
    for problem in doc.problems:
        assert problem.message
    json.dumps(doc.to_dict())


@settings(max_examples=120, deadline=None)
@given(st.text(alphabet='{}[]":,tfnrue0123456789.-eE \n\\u', max_size=60))
def test_agrees_with_python_json_on_validity(text):
    try:
        expected = json.loads(text)
        valid = True
    except ValueError:
        valid = False
    doc = parse_daemon_json(text.encode(), version=V23)
    syntax = [p for p in doc.problems if p.reason in ("syntax", "trailing-data", "empty")]
    assert (not syntax) == valid or text.strip() == ""
    if valid and isinstance(expected, dict):
        assert doc.values == expected
