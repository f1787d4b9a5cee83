"""dockerd's command line as spf13/pflag and cobra parse it, each flag keeping its source.

pflag rules that matter here: `--key=value` and `--key value`; a boolean flag
takes a value only after "=" (`--icc false` sets icc to true and leaves a
stray "false", which makes dockerd exit with `"dockerd" accepts no
argument(s).`); shorthands may be glued (`-Htcp://...`, `-H=...`, `-DH fd://`);
`--` ends the flags. Errors are in our words; dockerd's own are in the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hosts import HostError, parse_daemon_host
from .options import Option
from .problems import FlagError, Problem, Source, to_jsonable
from .systemd import Arg


def parse_bool(text: str) -> bool | None:
    """The spellings Go's strconv.ParseBool accepts; None for any other (dockerd refuses it)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


@dataclass(frozen=True)
class Flag:
    option: Option
    written: str  # as it appears on the command line, e.g. "-H tcp://0.0.0.0:2375"
    value: str  # the raw value; "true" for a bare boolean flag
    source: Source

    def to_dict(self) -> dict:
        return {
            "flag": f"--{self.option.flag}",
            "key": self.option.key,
            "written": self.written,
            "value": self.value,
            "source": self.source.to_dict(),
        }


def normalize_mirror(url: str) -> str:
    """registry.ValidateMirror stores mirrors with one trailing slash."""
    return url.rstrip("/") + "/"


def _ulimit(text: str) -> tuple[str, dict]:
    name, _, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    as_int = lambda v: int(v) if v.lstrip("-").isdigit() else v  # noqa: E731
    return name, {"Name": name, "Soft": as_int(soft), "Hard": as_int(hard or soft)}


def _pool(text: str) -> dict:
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    return {k: int(v) if k == "size" and v.isdigit() else v for k, v in fields.items()}


@dataclass(frozen=True)
class CommandLine:
    """The flags dockerd was (or will be) started with, in order."""

    flags: tuple[Flag, ...]
    problems: tuple[Problem, ...]

    def given(self, key: str) -> list[Flag]:
        return [f for f in self.flags if f.option.key == key]

    def keys(self) -> list[str]:
        return list(dict.fromkeys(f.option.key for f in self.flags))

    def value(self, key: str):
        """The value the flags give `key`, as JSON would hold it (list, dict, bool, int or str)."""
        flags = self.given(key)
        kind = flags[0].option.kind
        if kind == "list":
            return [normalize_mirror(f.value) if key == "registry-mirrors" else f.value for f in flags]
        if kind == "map":
            return {k: v for f in flags for k, _, v in [f.value.partition("=")]}
        if kind == "ulimits":
            return dict(_ulimit(f.value) for f in flags)
        if kind == "pools":
            return [_pool(f.value) for f in flags]
        if kind == "runtimes":
            return {k: {"path": v} for f in flags for k, _, v in [f.value.partition("=")]}
        last = flags[-1].value
        if kind == "bool":
            return parse_bool(last)
        if kind == "int":
            try:
                return int(last, 0)
            except ValueError:
                return last
        return last

    def to_dict(self) -> dict:
        return {"flags": to_jsonable(self.flags), "problems": to_jsonable(self.problems)}


class _Parser:
    def __init__(self, args: list[Arg], options: tuple[Option, ...]):
        self.args = args
        self.long = {o.flag: o for o in options}
        self.short = {o.short: o for o in options if o.short}
        self.flags: list[Flag] = []
        self.problems: list[Problem] = []

    def fail(self, arg: Arg, error: str) -> None:
        self.problems.append(
            FlagError(
                message=f"{arg.source}: {error}; dockerd refuses to start",
                fatal=True,
                evidence=(arg.source,),
                arg=arg.text,
            )
        )

    def add(self, option: Option, written: str, value: str, source: Source, arg: Arg) -> None:
        error = self.check(option, value)
        if error:
            self.fail(arg, f"--{option.flag} {value!r}: {error}")
            return
        self.flags.append(Flag(option, written, value, source))

    @staticmethod
    def check(option: Option, value: str) -> str | None:
        if option.kind == "bool" and parse_bool(value) is None:
            return "not true or false"
        if option.kind == "int":
            try:
                int(value, 0)
            except ValueError:
                return "not an integer"
        if option.key == "hosts":
            try:
                parse_daemon_host(value)
            except HostError as exc:
                return str(exc)
        return None

    def value_arg(self, i: int) -> Arg | None:
        return self.args[i] if i < len(self.args) else None

    def parse(self) -> CommandLine:
        stray: list[tuple[Arg, Flag | None]] = []
        i = 0
        while i < len(self.args):
            arg = self.args[i]
            text = arg.text
            i += 1
            if text == "--":
                stray += [(a, None) for a in self.args[i:]]
                break
            if len(text) < 2 or not text.startswith("-"):
                stray.append((arg, self.flags[-1] if self.flags else None))
            elif text.startswith("--"):
                i = self.parse_long(arg, i)
            else:
                i = self.parse_short(arg, i)
        if stray and not self.problems:
            arg, previous = stray[0]
            hint = ""
            if (
                previous
                and previous.option.kind == "bool"
                and parse_bool(arg.text) is not None
                and previous.written.startswith("--")
            ):
                hint = (
                    f" (a boolean flag takes its value only after '=': write --{previous.option.flag}={arg.text}; "
                    f"as written, {previous.option.flag} is true)"
                )
            self.fail(arg, f"stray argument {arg.text!r}: dockerd takes no arguments{hint}")
        return CommandLine(tuple(self.flags), tuple(self.problems))

    def parse_long(self, arg: Arg, i: int) -> int:
        name, eq, value = arg.text[2:].partition("=")
        if not name or name[0] in "-=":
            self.fail(arg, f"{arg.text!r} is not a flag")
            return i
        option = self.long.get(name)
        if option is None:
            self.fail(arg, f"--{name} is not a flag of this dockerd release")
            return i
        if eq:
            self.add(option, arg.text, value, arg.source, arg)
        elif not option.takes_value:
            self.add(option, arg.text, "true", arg.source, arg)
        elif (nxt := self.value_arg(i)) is not None:
            self.add(option, f"{arg.text} {nxt.text}", nxt.text, nxt.source, nxt)
            i += 1
        else:
            self.fail(arg, f"{arg.text} needs a value")
        return i

    def parse_short(self, arg: Arg, i: int) -> int:
        shorts = arg.text[1:]
        while shorts:
            c = shorts[0]
            option = self.short.get(c)
            if option is None:
                self.fail(arg, f"-{c} is not a flag of this dockerd release")
                return i
            if len(shorts) > 2 and shorts[1] == "=":
                self.add(option, arg.text, shorts[2:], arg.source, arg)
                shorts = ""
            elif not option.takes_value:
                self.add(option, arg.text, "true", arg.source, arg)
                shorts = shorts[1:]
            elif len(shorts) > 1:
                self.add(option, arg.text, shorts[1:], arg.source, arg)
                shorts = ""
            elif (nxt := self.value_arg(i)) is not None:
                self.add(option, f"{arg.text} {nxt.text}", nxt.text, nxt.source, nxt)
                i += 1
                shorts = ""
            else:
                self.fail(arg, f"-{c} needs a value")
                return i
        return i


def parse_flags(args: list[Arg], options: tuple[Option, ...]) -> CommandLine:
    """dockerd's flags from its arguments (argv without argv[0])."""
    return _Parser(args, options).parse()
