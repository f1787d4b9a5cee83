"""Gather a host's facts over an open connection: one batch, plus one for discovered paths.

Probes that need root (reading /etc/docker, `docker info` on a 0660 socket)
run through become when the inventory asks for it; nothing here writes to the host.
"""

from __future__ import annotations

import json

from remediate.connection.base import Connection
from remediate.connection.batch import READ_LIMIT, Batch, StepResult, run_batch
from remediate.facts import parse
from remediate.facts.model import CommandFact, FileFact, HostFacts
from remediate.facts.probes import (
    COMMANDS, CONTAINER_TEMPLATE, FALCO_UNITS, FIXED_PATHS, SNIPPET_INPUTS, SNIPPETS, UNIT_FACTS,
)

_INT_FIELDS = ("uid", "gid", "size")
# daemon.json keys that name files on the host we should also stat (and read, for seccomp).
_PATH_KEYS = ("tlscacert", "tlscert", "tlskey", "seccomp-profile")


def gather(conn: Connection, *, become: bool = False, extra_paths: tuple[str, ...] = ()) -> HostFacts:
    """All facts of one host in two round trips; extra_paths are read too (apply verifies what it wrote)."""
    facts = HostFacts(host=conn.host_name)
    batch = Batch()
    for path in FIXED_PATHS:
        batch.add_read(f"file:{path}", path)
    for name, argv in COMMANDS.items():
        batch.add_command(f"cmd:{name}", argv)
    for name, snippet in SNIPPETS.items():
        env = {"REMEDIATE_CONTAINER_TEMPLATE": CONTAINER_TEMPLATE} if name == "containers" else None
        inputs = {var: f"cmd:{step}" for var, step in SNIPPET_INPUTS.get(name, {}).items()}
        batch.add_shell(f"cmd:{name}", snippet, env=env, inputs=inputs)
    _absorb(facts, run_batch(conn, batch, become=become))
    _split_units(facts)

    discovered = sorted((set(_discovered_paths(facts)) | set(extra_paths)) - set(facts.files))
    if discovered:
        follow_up = Batch()
        for path in discovered:
            follow_up.add_read(f"file:{path}", path)
        _absorb(facts, run_batch(conn, follow_up, become=become))
    facts.round_trips = conn.round_trips
    return facts


def _absorb(facts: HostFacts, results: dict[str, StepResult]) -> None:
    for key, result in results.items():
        kind, _, name = key.partition(":")
        if kind == "file":
            facts.files[name] = file_fact(name, result)
        else:
            facts.commands[name] = CommandFact(rc=result.rc, stdout=result.text(),
                                               stderr=result.stderr.decode("utf-8", errors="replace"))


def _split_units(facts: HostFacts) -> None:
    """The one `systemctl show` as the facts checks read: `service`, `socket`, and `falco` as is-active prints it."""
    shown = facts.commands.pop("systemd")
    blocks = shown.stdout.split("\n\n")
    units = [unit for unit, _ in UNIT_FACTS.values()] + list(FALCO_UNITS)
    by_unit = dict(zip(units, blocks + [""] * (len(units) - len(blocks))))
    for name, (unit, props) in UNIT_FACTS.items():
        wanted = set(props.split(","))
        text = "".join(line + "\n" for line in by_unit[unit].splitlines() if line.partition("=")[0] in wanted)
        facts.commands[name] = CommandFact(rc=shown.rc, stdout=text, stderr=shown.stderr)
    states = [parse.systemctl_show(by_unit[unit]).get("ActiveState", "") for unit in FALCO_UNITS]
    if shown.rc == 0:
        facts.commands["falco"] = CommandFact(rc=0 if "active" in states else 3,
                                              stdout="".join(f"{state}\n" for state in states))
    else:
        facts.commands["falco"] = CommandFact(rc=shown.rc, stdout="", stderr=shown.stderr)


def file_fact(path: str, result: StepResult) -> FileFact:
    meta = result.meta
    kind = meta.get("kind", "error")
    if kind == "missing":
        return FileFact(path=path, kind="missing")
    if "mode" not in meta and kind != "missing":
        return FileFact(path=path, kind="error" if not meta else kind,
                        error=result.stderr.decode(errors="replace").strip() or "could not stat")
    values = {k: int(meta[k]) for k in _INT_FIELDS if meta.get(k, "").isdigit()}
    content = result.stdout if kind in ("file", "symlink") and meta.get("mode") else None
    error = result.stderr.decode(errors="replace").strip() or None
    if meta.get("truncated") == "1":  # never judge (or back up) a file's first READ_LIMIT bytes as all of it
        content = None
        error = f"{meta.get('size') or 'over ' + str(READ_LIMIT)} bytes, larger than the {READ_LIMIT} remediate reads"
    return FileFact(
        path=path,
        kind=kind,
        mode=int(meta["mode"], 8),
        owner=meta.get("owner"),
        group=meta.get("group"),
        link_target=meta.get("link"),
        content=content,
        error=error,
        **values,
    )


def _discovered_paths(facts: HostFacts) -> list[str]:
    """Paths round 1 told us about: unit files, drop-ins, env files, rules.d, files named in daemon.json."""
    paths = [p for p in facts.command("discovered_paths").stdout.splitlines() if p.startswith("/")]
    for name in UNIT_FACTS:
        props = parse.systemctl_show(facts.command(name).stdout)
        env_files = parse.environment_files(props.get("EnvironmentFiles", ""))
        paths += parse.unit_files(props) + [path for path, _optional in env_files]
    paths = [p for p in paths if p.startswith("/")]
    config_path = daemon_json_path(facts)
    paths.append(config_path)
    daemon = facts.files.get(config_path)
    if daemon and daemon.content:
        try:
            data = json.loads(daemon.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            paths += [data[k] for k in _PATH_KEYS if isinstance(data.get(k), str) and data[k].startswith("/")]
    return paths


def daemon_json_path(facts: HostFacts) -> str:
    """--config-file from the running dockerd or ExecStart, else the default."""
    words = facts.command("dockerd_cmdline").stdout.split("\n")
    service = parse.systemctl_show(facts.command("service").stdout)
    for command in parse.exec_start_commands(service.get("ExecStart", "")):
        words += command.split()
    for i, word in enumerate(words):
        if word.startswith("--config-file="):
            return word.split("=", 1)[1]
        if word == "--config-file" and i + 1 < len(words):
            return words[i + 1]
    return "/etc/docker/daemon.json"
