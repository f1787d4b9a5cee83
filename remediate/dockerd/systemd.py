"""Read ExecStart= and EnvironmentFile= the way systemd does, keeping where each word came from.

systemd, not a shell, builds dockerd's argv:
- ExecStart= is split into words with quotes ('...' or "...", also inside a
  word) and C escapes (\\n, \\x41, \\\\ ...; unknown escapes are kept), then
  `$VAR` standing alone as a word becomes the value split at whitespace (zero
  or more args, quotes in the value honoured) while `${VAR}` becomes exactly
  one word (an unset variable gives an empty argument); `$$` is a dollar sign
  (src/core/load-fragment.c config_parse_exec, src/basic/env-util.c replace_env_argv).
- EnvironmentFile= lines are KEY=VALUE; blank lines and lines starting with #
  or ; are comments (only at the start of a line: `FOO=a # b` keeps "a # b");
  values may be single-quoted (literal) or double-quoted (\\" \\\\ \\` \\$ escapes);
  unquoted values lose surrounding whitespace and a backslash escapes the next
  character; a trailing backslash continues the line. There is no `export`:
  "export FOO=bar" names a variable "export FOO", which systemd drops
  (src/basic/env-file.c parse_env_file_internal). A comment ending in a
  backslash swallows the next line, as in systemd 252 (Debian 12, RHEL 9);
  systemd 254 and later stopped doing that.
- Environment= values override nothing: files named by EnvironmentFile= win,
  later files over earlier ones (systemd.exec(5)).
- The executable may carry prefixes: "-" (failure ignored), "@" (the next word
  is argv[0]), ":" (no variable expansion), "+", "!", "!!" (privileges).
ExecStart entries come from the unit files, or from `systemctl show` as the facts
parsed it (remediate.facts.typed: its argv[], which older systemd joins without
quoting, so an argument holding spaces cannot be told apart there).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .problems import Problem, Source, UnitProblem

WHITESPACE = " \t\n\r"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SURROGATES = re.compile("[\udc80-\udcff]")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "s": " ",
}
_HEX = {"x": 2, "u": 4, "U": 8}


class UnitSyntaxError(ValueError):
    """systemd would reject the line ("Unbalanced quoting, ignoring")."""


@dataclass(frozen=True)
class Arg:
    """One argv word and where it came from."""

    text: str
    source: Source


@dataclass(frozen=True)
class EnvValue:
    value: str
    source: Source


@dataclass
class EnvFile:
    assignments: list[tuple[str, str, int]] = field(default_factory=list)  # key, value, line
    problems: list[UnitProblem] = field(default_factory=list)


def _cunescape(text: str, i: int) -> tuple[str, int] | None:
    """The character of the escape whose letter is at text[i], and its length; None if unknown."""
    c = text[i]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], 1
    if c in _HEX:
        digits = text[i + 1 : i + 1 + _HEX[c]]
        if len(digits) == _HEX[c] and all(d in "0123456789abcdefABCDEF" for d in digits):
            code = int(digits, 16)
            if code and code <= 0x10FFFF:
                return chr(code), 1 + len(digits)
        return None
    digits = text[i : i + 3]
    if len(digits) == 3 and digits[0] in "0123" and all(d in "01234567" for d in digits) and digits != "000":
        return chr(int(digits, 8)), 3
    return None


def split_words(text: str, *, value: bool = False) -> list[str]:
    """systemd's word splitting (extract_first_word): an ExecStart= line, or with `value` a variable's value as
    `$VAR` splits it.

    Both honour quotes ('...' or "...", also inside a word) and end a word at whitespace. In ExecStart= a
    backslash starts a C escape (unknown ones are kept) and unbalanced quoting is an error (systemd ignores the
    line); in a value (EXTRACT_RELAX, no unescaping) a backslash takes the next character as it is, a trailing
    one is dropped, and an unclosed quote runs to the end.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = None
        while i < n:
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    if quote and not value:
                        raise UnitSyntaxError(f"unbalanced quoting: {text}")
                    word += [] if value else ["\\"]
                    i += 1
                    break
                decoded = (text[i + 1], 1) if value else _cunescape(text, i + 1)
                if decoded is None:
                    word.append("\\" + text[i + 1])
                    i += 2
                else:
                    word.append(decoded[0])
                    i += 1 + decoded[1]
            elif quote:
                if c == quote:
                    quote = None
                else:
                    word.append(c)
                i += 1
            elif c in "'\"":
                quote = c
                i += 1
            elif c in WHITESPACE:
                break
            else:
                word.append(c)
                i += 1
        if quote and not value:
            raise UnitSyntaxError(f"unbalanced quoting: {text}")
        words.append("".join(word))


def exec_start_text(entry: str) -> str:
    """The command line of one ExecStart entry: a unit file line (continuations joined) or its value."""
    text = re.sub(r"\\\n", " ", entry.strip())
    return re.sub(r"^ExecStart\s*=\s*", "", text)


def exec_start_prefixes(word: str) -> tuple[str, str]:
    """Split systemd's executable prefixes ("-", "@", ":", "+", "!", "!!") from the path."""
    path = word.lstrip("-@:+!")
    return word[: len(word) - len(path)], path


def _replace_braced(word: str, env: dict[str, EnvValue]) -> tuple[str, list[str]]:
    """${NAME} replaced by its value (unset: nothing), $$ by $; bare $NAME inside a word stays."""
    out: list[str] = []
    used: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c == "$" and i + 1 < n and word[i + 1] == "$":
            out.append("$")
            i += 2
        elif c == "$" and i + 1 < n and word[i + 1] == "{":
            end = word.find("}", i + 2)
            if end < 0:
                out.append(word[i:])
                break
            name = word[i + 2 : end]
            if ":" in name:
                out.append(word[i : end + 1])
            else:
                used.append(name)
                out.append(env[name].value if name in env else "")
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), used


def expand_args(words: list[str], env: dict[str, EnvValue], literal: Source) -> list[Arg]:
    """Apply systemd's variable expansion to ExecStart words, each result keeping its source."""
    args: list[Arg] = []
    for word in words:
        if word.startswith("$") and word[1:2] not in ("{", "$"):
            name = word[1:]
            if name in env:
                source = env[name].source
                args += [Arg(part, source) for part in split_words(env[name].value, value=True)]
            continue
        text, used = _replace_braced(word, env)
        carrier = next((env[name].source for name in used if name in env), None)
        args.append(Arg(text, carrier or literal))
    return args


def parse_env_file(content: bytes, path: str) -> EnvFile:
    """Assignments of an EnvironmentFile=, in order, with the line each key starts on."""
    result = EnvFile()
    text = content.decode("utf-8", "surrogateescape")
    for key, value, line in _env_assignments(text):
        if _SURROGATES.search(key + value):
            refused = UnitProblem(
                message=f"{path}:{line}: invalid UTF-8 in an assignment; systemd refuses the whole file "
                "(the service fails, or the file is skipped when EnvironmentFile= has a '-' prefix)",
                fatal=False,
                evidence=(Source(path, line),),
                detail="invalid-utf8",
            )
            return EnvFile(problems=[*result.problems, refused])
        if _ENV_NAME.match(key):
            result.assignments.append((key, value, line))
            continue
        hint = ""
        if key.startswith("export ") and _ENV_NAME.match(key[7:].strip()):
            name = key[7:].strip()
            hint = f": systemd has no 'export', so {name} is NOT set by this line (write {name}=... instead)"
        result.problems.append(
            UnitProblem(
                message=f"{path}:{line}: systemd ignores the assignment to {json.dumps(key)}, "
                f"not a valid variable name{hint}",
                fatal=False,
                evidence=(Source(path, line),),
                detail="invalid-name",
            )
        )
    return result


def _env_assignments(text: str):
    """systemd's env-file state machine; yields (key, value, line of the key)."""
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_end = value_end = None  # where trailing whitespace starts
    line = key_line = 1

    def finish():
        k = "".join(key[:key_end] if key_end is not None else key)
        v = "".join(value[:value_end] if (state == "value" and value_end is not None) else value)
        return k, v, key_line

    for c in text:
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in WHITESPACE:
                state, key, key_end, key_line = "key", [c], None, line
        elif state == "key":
            if c in "\n\r":
                state, key = "pre_key", []
            elif c == "=":
                state, value, value_end = "pre_value", [], None
            else:
                if c not in WHITESPACE:
                    key_end = None
                elif key_end is None:
                    key_end = len(key)
                key.append(c)
        elif state == "pre_value":
            if c in "\n\r":
                yield finish()
                state = "pre_key"
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "value_escape"
            elif c not in WHITESPACE:
                state = "value"
                value.append(c)
        elif state == "value":
            if c in "\n\r":
                yield finish()
                state = "pre_key"
            elif c == "\\":
                state, value_end = "value_escape", None
            else:
                if c not in WHITESPACE:
                    value_end = None
                elif value_end is None:
                    value_end = len(value)
                value.append(c)
        elif state == "value_escape":
            state = "value"
            if c not in "\n\r":
                value.append(c)
        elif state == "single":
            if c == "'":
                state = "pre_value"
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            state = "double"
            if c in '"\\`$':
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in "\n\r":
                state = "pre_key"
        elif state == "comment_escape":
            state = "comment"
        if c == "\n":
            line += 1
    if state in ("pre_value", "value", "value_escape", "single", "double", "double_escape"):
        yield finish()


# parse_env_file once per file content: resolve_environment runs for every derivation of the dockerd model, and
# most hosts of a fleet have the same /etc/default/docker. Its result is only read (parse_env_file's is the caller's).
_env_file = lru_cache(maxsize=256)(parse_env_file)


def resolve_environment(
    environment: dict[str, str], files: dict[str, bytes | None]
) -> tuple[dict[str, EnvValue], list[UnitProblem]]:
    """The service's variables: Environment= first, then each EnvironmentFile= in order, later wins."""
    env = {k: EnvValue(v, Source("Environment=", via=k)) for k, v in environment.items()}
    problems: list[UnitProblem] = []
    for path, content in files.items():
        if content is None:
            continue
        parsed = _env_file(content, path)
        problems += parsed.problems
        for key, value, line in parsed.assignments:
            env[key] = EnvValue(value, Source(path, line, key))
    return env, problems


@dataclass(frozen=True)
class SystemdCommand:
    """The argv systemd starts dockerd with, after variable expansion."""

    argv0: str | None
    args: tuple[Arg, ...]
    problems: tuple[Problem, ...]

    @property
    def is_dockerd(self) -> bool:
        return bool(self.argv0) and re.fullmatch(r"dockerd(-current)?", os.path.basename(self.argv0 or "")) is not None


def systemd_command(exec_start: list[str], source: str, env: dict[str, EnvValue]) -> SystemdCommand:
    """The command of docker.service from its ExecStart= entries ("" resets the list, as in a drop-in)."""
    entries: list[str] = []
    for entry in exec_start:
        text = exec_start_text(entry)
        entries = [*entries, text] if text.strip() else []
    if not entries:
        return SystemdCommand(None, (), ())
    evidence = (Source(source, via="ExecStart"),)
    problems: list[Problem] = []
    if len(entries) > 1:
        problems.append(
            UnitProblem(
                message=f"{source}: {len(entries)} ExecStart= command lines; systemd refuses more than one for "
                "docker.service (Type=notify): a drop-in replacing ExecStart= must first clear it with an empty "
                "ExecStart=",
                fatal=True,
                evidence=evidence,
                detail="several-exec-start",
            )
        )
    try:
        words = split_words(entries[-1])
    except UnitSyntaxError as exc:
        problems.append(
            UnitProblem(
                message=f"{source}: ExecStart= has {exc}; systemd ignores the line and cannot start docker.service",
                fatal=True,
                evidence=evidence,
                detail="unbalanced-quoting",
            )
        )
        return SystemdCommand(None, (), tuple(problems))
    prefixes, path = exec_start_prefixes(words[0]) if words else ("", "")
    rest = words[1:]
    argv0 = path
    if "@" in prefixes and rest:
        argv0, rest = rest[0], rest[1:]
    literal = Source(source, via="ExecStart")
    args = [Arg(w, literal) for w in rest] if ":" in prefixes else expand_args(rest, env, literal)
    return SystemdCommand(argv0, tuple(args), tuple(problems))
