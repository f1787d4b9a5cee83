"""Properties of word splitting: ExecStart=, $DOCKER_OPTS from an EnvironmentFile, Environment=.

Each quoting function below is written from the rules of the program that
reads the words (systemd.syntax(7) and systemd's extract_first_word() for
unit files and $VAR values, systemd's env-file parser, systemctl's
shell_maybe_quote()): a word quoted by those rules must come back from our
readers exactly, whatever characters it holds. Remote command lines (through
a real sh) are covered in test_connection_base.py.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd.problems import Source
from remediate.dockerd.systemd import UnitSyntaxError, expand_args, resolve_environment, split_words, systemd_command
from remediate.facts import parse
from remediate.plan.units import word_spans

UNIT = "/lib/systemd/system/docker.service"
WORD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
HOSTILE_WORD = WORD | st.sampled_from(
    [
        "",
        " ",
        "$DOCKER_OPTS",
        "${X}",
        "$$",
        "'",
        '"',
        "\\",
        "a b",
        "\\x41",
        "%h",
        "--label=it's",
        '"quoted"',
        "\t\n",
        "`id`",
        "$(id)",
        ";",
        "|",
        "*",
        "~",
    ]
)
ARGV = st.lists(HOSTILE_WORD, max_size=6)


def unit_quote(word: str) -> str:
    """An ExecStart= word: double-quoted, C escapes for \\ " and control characters, $$ for a dollar."""
    out = []
    for c in word:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "$":
            out.append("$$")
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def value_quote(word: str) -> str:
    """A word of a $VAR value: single-quoted; inside quotes systemd still takes a backslash as an escape."""
    return "'" + "".join("\\" + c if c in "\\'" else c for c in word) + "'"


def env_file_line(name: str, value: str) -> str:
    """NAME="value" in an EnvironmentFile: inside double quotes \\ escapes " \\ ` and $."""
    return name + '="' + "".join("\\" + c if c in '"\\`$' else c for c in value) + '"\n'


def shown(word: str) -> str:
    """systemctl's shell_maybe_quote(word, 0), as systemd 254+ prints Environment= (control characters C-escaped)."""
    if word and not any(ord(c) < 32 or ord(c) == 127 or c in " \t\n\r\"\\`$*?['()<>|&;!" for c in word):
        return word
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for c in word:
        if c in '"\\`$':
            out.append("\\" + c)
        elif c in escapes:
            out.append(escapes[c])
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\{ord(c):03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def texts(args) -> list[str]:
    return [a.text for a in args]


@settings(max_examples=150, deadline=None)
@given(ARGV)
def test_any_argv_quoted_for_a_unit_file_splits_back_to_itself(argv):
    line = "/usr/sbin/dockerd " + " ".join(unit_quote(w) for w in argv)
    words = split_words(line)
    assert words[0] == "/usr/sbin/dockerd"
    assert texts(expand_args(words[1:], {}, Source(UNIT))) == argv


@settings(max_examples=150, deadline=None)
@given(ARGV, ARGV)
def test_docker_opts_words_survive_the_environment_file_and_dollar_expansion(before, opts):
    content = (
        "# /etc/default/docker\n" + env_file_line("DOCKER_OPTS", " ".join(value_quote(w) for w in opts))
    ).encode()
    env, problems = resolve_environment({}, {"/etc/default/docker": content})
    assert problems == []
    line = "/usr/sbin/dockerd " + " ".join(unit_quote(w) for w in before) + " $DOCKER_OPTS"
    command = systemd_command([line], UNIT, env)
    assert texts(command.args) == before + opts
    assert {a.source.path for a in command.args[len(before) :]} <= {"/etc/default/docker"}


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list(" \t\n\"'\\ax$=-{}01uU")), max_size=30))
def test_exec_start_word_spans_match_the_words_systemd_reads(text):
    """The ExecStart rewrite keeps raw spans: each must re-read as exactly its word, and their join as the line."""
    try:
        words = split_words(text)
    except UnitSyntaxError:
        return
    spans = word_spans(text)
    assert len(spans) == len(words)
    for (start, end), word in zip(spans, words, strict=True):
        assert split_words(text[start:end]) == [word]
    assert split_words(" ".join(text[a:b] for a, b in spans)) == words


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
_VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=5))
def test_environment_as_systemctl_shows_it_reads_back(env):
    output = "Environment=" + " ".join(shown(f"{k}={v}") for k, v in env.items()) + "\nActiveState=active\n"
    props = parse.systemctl_show(output)
    assert parse.environment(props["Environment"]) == env
    assert props["ActiveState"] == "active"
