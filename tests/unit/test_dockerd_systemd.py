"""ExecStart= and EnvironmentFile= as systemd reads them."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd.problems import Source
from remediate.dockerd.systemd import (
    EnvValue,
    UnitSyntaxError,
    exec_start_text,
    expand_args,
    parse_env_file,
    resolve_environment,
    split_words,
)

UNIT = Source("/lib/systemd/system/docker.service", via="ExecStart")
DEBIAN_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"


def env(**values) -> dict[str, EnvValue]:
    return {k: EnvValue(v, Source("/etc/default/docker", 3, k)) for k, v in values.items()}


def texts(args):
    return [a.text for a in args]


@pytest.mark.parametrize(
    "line, words",
    [
        (
            DEBIAN_EXEC,
            ["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock", "$DOCKER_OPTS"],
        ),
        ("/usr/bin/dockerd --label \"a b\" --label='c d'", ["/usr/bin/dockerd", "--label", "a b", "--label=c d"]),
        ('/usr/bin/dockerd --label="x y"z', ["/usr/bin/dockerd", "--label=x yz"]),
        (
            r'/usr/bin/dockerd a\x41 "q\"q" \s tab\tx unknown\q',
            ["/usr/bin/dockerd", "aA", 'q"q', " ", "tab\tx", r"unknown\q"],
        ),
        ('/usr/bin/dockerd ""', ["/usr/bin/dockerd", ""]),
        ("  ", []),
    ],
)
def test_split_words(line, words):
    assert split_words(line) == words


def test_unbalanced_quotes_are_refused():
    with pytest.raises(UnitSyntaxError):
        split_words('/usr/bin/dockerd --label "a b')


@pytest.mark.parametrize(
    "entry",
    [
        f"ExecStart={DEBIAN_EXEC}",
        f"ExecStart = {DEBIAN_EXEC}",
        "/usr/sbin/dockerd -H fd:// \\\n  --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    ],
)
def test_exec_start_forms(entry):
    assert split_words(exec_start_text(entry)) == split_words(DEBIAN_EXEC)


def test_dollar_var_splits_into_several_args_with_its_source():
    args = expand_args(["-H", "fd://", "$DOCKER_OPTS"], env(DOCKER_OPTS="-H tcp://0.0.0.0:2375 --debug"), UNIT)
    assert texts(args) == ["-H", "fd://", "-H", "tcp://0.0.0.0:2375", "--debug"]
    assert str(args[2].source) == "/etc/default/docker:3 (DOCKER_OPTS)"
    assert args[0].source == UNIT


def test_braced_var_stays_one_arg():
    args = expand_args(["${DOCKER_OPTS}"], env(DOCKER_OPTS="-H tcp://0.0.0.0:2375"), UNIT)
    assert texts(args) == ["-H tcp://0.0.0.0:2375"]
    assert args[0].source.via == "DOCKER_OPTS"


def test_unset_variables():
    assert expand_args(["$DOCKER_OPTS"], {}, UNIT) == []
    assert texts(expand_args(["${DOCKER_OPTS}"], {}, UNIT)) == [""]


def test_quotes_inside_a_variable_are_honoured_by_dollar_var():
    args = expand_args(["$DOCKER_OPTS"], env(DOCKER_OPTS="--label 'a b' -H tcp://1.2.3.4:2376"), UNIT)
    assert texts(args) == ["--label", "a b", "-H", "tcp://1.2.3.4:2376"]


def test_braced_inside_a_word_dollar_dollar_and_bare_names():
    e = env(ADDR="1.2.3.4")
    assert texts(expand_args(["-Htcp://${ADDR}:2375", "$$HOME", "x$ADDR", "${A:-b}"], e, UNIT)) == [
        "-Htcp://1.2.3.4:2375",
        "$HOME",
        "x$ADDR",
        "${A:-b}",
    ]


ENV_FILE = b"""\
# Here in Debian, this file is sourced by:
#   - systemd's docker.service
; also a comment

DOCKER_OPTS="-H tcp://0.0.0.0:2375 --label \\"x y\\""
SINGLE='a "b" $c'
  SPACED =   value with spaces   \t
ESCAPED=a\\ b\\\\c
CONTINUED=one \\
two
HASH=value # not a comment
export EXPORTED=1
no equals sign here
EMPTY=
LAST="unterminated
"""


def test_env_file_syntax():
    parsed = parse_env_file(ENV_FILE, "/etc/default/docker")
    values = {k: (v, line) for k, v, line in parsed.assignments}
    assert values["DOCKER_OPTS"] == ('-H tcp://0.0.0.0:2375 --label "x y"', 5)
    assert values["SINGLE"] == ('a "b" $c', 6)
    assert values["SPACED"] == ("value with spaces", 7)
    assert values["ESCAPED"] == ("a b\\c", 8)
    assert values["CONTINUED"] == ("one two", 9)
    assert values["HASH"] == ("value # not a comment", 11)
    assert values["EMPTY"] == ("", 14)
    assert values["LAST"] == ("unterminated\n", 15)
    assert "EXPORTED" not in values
    [problem] = parsed.problems
    assert problem.evidence[0].line == 12
    assert "no 'export'" in problem.message and "EXPORTED is NOT set" in problem.message


def test_comment_ending_in_backslash_swallows_the_next_line():
    parsed = parse_env_file(b"# note \\\nDOCKER_OPTS=-H tcp://0.0.0.0:2375\nOTHER=1\n", "/etc/default/docker")
    assert [k for k, _, _ in parsed.assignments] == ["OTHER"]


def test_invalid_utf8_in_an_assignment_drops_the_whole_file():
    parsed = parse_env_file(b"A=1\nB=\xff\n", "/etc/default/docker")
    assert parsed.assignments == []
    assert parsed.problems[0].detail == "invalid-utf8"
    assert parse_env_file(b"# \xff in a comment\nA=1\n", "/x").assignments == [("A", "1", 2)]


def test_environment_files_override_environment_in_order():
    resolved, _ = resolve_environment(
        {"DOCKER_OPTS": "--debug", "KEEP": "1"},
        {
            "/etc/default/docker": b"DOCKER_OPTS=-H fd://\n",
            "/missing": None,
            "/etc/sysconfig/docker": b"\nDOCKER_OPTS=-D\n",
        },
    )
    assert resolved["DOCKER_OPTS"].value == "-D"
    assert str(resolved["DOCKER_OPTS"].source) == "/etc/sysconfig/docker:2 (DOCKER_OPTS)"
    assert str(resolved["KEEP"].source) == "Environment= (KEEP)"


safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@settings(max_examples=50, deadline=None)
@given(safe_text)
def test_split_words_never_crashes(text):
    with contextlib.suppress(UnitSyntaxError):
        split_words(text)
    split_words(text, value=True)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200))
def test_env_file_never_crashes(data):
    parsed = parse_env_file(data, "/etc/default/docker")
    for _key, value, line in parsed.assignments:
        assert line >= 1 and isinstance(value, str)


plain_word = st.text(
    st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_=/:. "), min_size=1, max_size=20
)


@settings(max_examples=50, deadline=None)
@given(st.lists(plain_word, min_size=1, max_size=5))
def test_quoted_words_round_trip(words):
    line = "/usr/bin/dockerd " + " ".join('"' + w + '"' for w in words)
    assert split_words(line)[1:] == words
    assert split_words(" ".join("'" + w + "'" for w in words), value=True) == words


@settings(max_examples=50, deadline=None)
@given(plain_word.filter(lambda w: '"' not in w))
def test_env_file_double_quoted_value_round_trips(value):
    [(key, parsed, line)] = parse_env_file(f'KEY="{value}"\n'.encode(), "/f").assignments
    assert (key, parsed, line) == ("KEY", value, 1)
