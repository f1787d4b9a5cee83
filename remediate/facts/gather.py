"""Gather a host's facts over an open connection: one batch, plus one for discovered paths.

Probes that need root (reading /etc/docker, `docker info` on a 0660 socket)
run through become when the inventory asks for it; nothing here writes to the host.
Every path goes into a batch through add_path, which stats key material
(probes.is_key_material) instead of reading it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import replace

from remediate.connection.base import Connection
from remediate.connection.batch import READ_LIMIT, Batch, StepResult, run_batch
from remediate.facts import parse
from remediate.facts.dirs import CREATED_IN, DIR_CHAIN_SNIPPET, dirs_to_ask
from remediate.facts.dockerd_inputs import daemon_json_path, effective_config
from remediate.facts.model import CommandFact, FileFact, HostFacts
from remediate.facts.probes import (
    COMMANDS,
    FALCO_UNITS,
    FIXED_PATHS,
    SNIPPET_ENV,
    SNIPPET_HANDOFFS,
    SNIPPET_INPUTS,
    SNIPPETS,
    TLS_KEYS,
    UNIT_FACTS,
    is_key_material,
)

_INT_FIELDS = ("uid", "gid", "size", "mtime", "dev", "ino")
DIR_CHAIN_MORE = "dir_chain_more"  # a follow-up round's part of the `dir_chain` fact, merged into it
# daemon.json keys that name files on the host we should also read (TLS files: tls_files, stat only).
_PATH_KEYS = ("seccomp-profile",)


def gather(conn: Connection, *, become: bool = False, extra_paths: tuple[str, ...] = ()) -> HostFacts:
    """All facts of one host in two round trips (three when a daemon.json at a --config-file or an
    EnvironmentFile outside FIXED_PATHS names TLS files, or must be read before extra_paths); extra_paths are
    gathered too (apply verifies what it wrote), key material among them stat-ed only."""
    facts = HostFacts(host=conn.host_name)
    batch = Batch()
    for path in FIXED_PATHS:
        add_path(batch, path)
    for name, argv in COMMANDS.items():
        batch.add_command(f"cmd:{name}", argv)
    for name, snippet in SNIPPETS.items():
        inputs = {var: f"cmd:{step}" for var, step in SNIPPET_INPUTS.get(name, {}).items()}
        handoffs = {var: f"cmd:{step}" for var, step in SNIPPET_HANDOFFS.get(name, {}).items()}
        batch.add_shell(f"cmd:{name}", snippet, env=SNIPPET_ENV.get(name), inputs=inputs, handoffs=handoffs)
    _ask_dir_chain(batch, facts, [*FIXED_PATHS, *(f"{d}/." for d in CREATED_IN)])
    _absorb(facts, run_batch(conn, batch, become=become))
    _split_units(facts)

    # The extra paths wait until every file that can name a TLS file has been read, so none of them is
    # read before gather knows it is key material.
    named = tls_files(facts)
    ready = not _config_unread(facts)
    _follow_up(conn, facts, {*_discovered_paths(facts), *named, *(extra_paths if ready else ())}, named, become)
    # A daemon.json at a --config-file or an EnvironmentFile read just now may name more TLS files
    # ($DOCKER_OPTS="--tlskey ...") or a seccomp profile: a third round for those and the extra paths
    # (never on a packaged setup).
    named |= tls_files(facts)
    _follow_up(conn, facts, {*_discovered_paths(facts), *named, *extra_paths}, named, become)
    _forget_key_material(facts, named)
    facts.round_trips = conn.round_trips
    facts.parsed  # noqa: B018 (parsed once, here: everything downstream reads the typed facts)
    return facts


def _config_unread(facts: HostFacts) -> bool:
    """Whether a file that can name TLS files (daemon.json, docker.service's EnvironmentFiles) is still unread."""
    env_files = [path for path, _optional in facts.parsed.service.environment_files]
    return any(path.startswith("/") and path not in facts.files for path in [daemon_json_path(facts), *env_files])


def add_path(batch: Batch, path: str, named: Collection[str] = ()) -> None:
    """The one way gather puts a path into a batch: key material is stat-ed (never opened), the rest read."""
    if is_key_material(path, named):
        batch.add_stat(f"file:{path}", path)
    else:
        batch.add_read(f"file:{path}", path)


def _follow_up(conn: Connection, facts: HostFacts, paths: Iterable[str], named: Collection[str], become: bool) -> None:
    """One more round trip for the paths not gathered yet (none when there are none)."""
    wanted = sorted(set(paths) - set(facts.files))
    if not wanted:
        return
    batch = Batch()
    for path in wanted:
        add_path(batch, path, named)
    _ask_dir_chain(batch, facts, wanted)
    _absorb(facts, run_batch(conn, batch, become=become))


def _ask_dir_chain(batch: Batch, facts: HostFacts, paths: Iterable[str]) -> None:
    """Who can change the directories on the way to these paths (remediate.facts.dirs), for those not asked
    about yet; each round's answer is added to the `dir_chain` fact."""
    asked = facts.parsed.dir_chain.resolved
    dirs = [d for d in dirs_to_ask(paths) if d not in asked and "\n" not in d]
    if dirs:
        batch.add_shell(
            f"cmd:{DIR_CHAIN_MORE if 'dir_chain' in facts.commands else 'dir_chain'}",
            DIR_CHAIN_SNIPPET,
            env={"REMEDIATE_DIRS": "\n".join(dirs)},
        )


def _forget_key_material(facts: HostFacts, named: Collection[str]) -> None:
    """A path read before the configuration named it as a TLS file (tlskey pointing at a fixed path): its
    bytes are dropped, so they are never saved, planned or reported."""
    for path, fact in facts.files.items():
        if fact.content is not None and is_key_material(path, named):
            facts.files[path] = replace(fact, content=None)


def tls_files(facts: HostFacts) -> frozenset[str]:
    """The TLS files (tlscacert, tlscert, tlskey) dockerd is configured with, in daemon.json or as flags
    ($DOCKER_OPTS expanded), and those the running dockerd was started with: key material, whatever their
    names, stat-ed for the 3.9-3.14 checks and never read. The effective config is the facts' own (built once
    per state of the files: a follow-up round's new files rebuild it)."""
    effective = effective_config(facts)
    paths = {effective.value(key) for key in TLS_KEYS} | {path for _key, path in effective.tls.files}
    words = list(facts.parsed.dockerd_cmdline or ())
    for i, word in enumerate(words):
        name, eq, value = word.partition("=")
        if name.lstrip("-") in TLS_KEYS and name.startswith("--"):
            paths.add(value if eq else words[i + 1] if i + 1 < len(words) else None)
    return frozenset(p for p in paths if isinstance(p, str) and p.startswith("/"))


def _absorb(facts: HostFacts, results: dict[str, StepResult]) -> None:
    for key, result in results.items():
        kind, _, name = key.partition(":")
        if kind == "file":
            facts.files[name] = file_fact(name, result)
        else:
            facts.commands[name] = CommandFact(
                rc=result.rc, stdout=result.text(), stderr=result.stderr.decode("utf-8", errors="replace")
            )
    more = facts.commands.pop(DIR_CHAIN_MORE, None)
    if more is not None:
        first = facts.command("dir_chain")
        facts.commands["dir_chain"] = CommandFact(
            rc=first.rc or more.rc, stdout=first.stdout + more.stdout, stderr=first.stderr + more.stderr
        )


def _split_units(facts: HostFacts) -> None:
    """The one `systemctl show` as the facts checks read: `service`, `socket`, and `falco` as is-active prints it."""
    shown = facts.commands.pop("systemd")
    blocks = shown.stdout.split("\n\n")
    units = [unit for unit, _ in UNIT_FACTS.values()] + list(FALCO_UNITS)
    by_unit = dict(zip(units, [*blocks, *[""] * (len(units) - len(blocks))][: len(units)], strict=True))
    for name, (unit, props) in UNIT_FACTS.items():
        wanted = set(props.split(","))
        text = "".join(line + "\n" for line in by_unit[unit].splitlines() if line.partition("=")[0] in wanted)
        facts.commands[name] = CommandFact(rc=shown.rc, stdout=text, stderr=shown.stderr)
    states = [
        parse.systemctl_show(by_unit[unit]).get("ActiveState", "") for unit in FALCO_UNITS
    ]  # saved as is-active prints them
    if shown.rc == 0:
        facts.commands["falco"] = CommandFact(
            rc=0 if "active" in states else 3, stdout="".join(f"{state}\n" for state in states)
        )
    else:
        facts.commands["falco"] = CommandFact(rc=shown.rc, stdout="", stderr=shown.stderr)


def file_fact(path: str, result: StepResult) -> FileFact:
    meta = result.meta
    kind = meta.get("kind", "error")
    if kind == "missing":
        return FileFact(path=path, kind="missing")
    if "mode" not in meta and kind != "missing":
        return FileFact(
            path=path,
            kind="error" if not meta else kind,
            error=result.stderr.decode(errors="replace").strip() or "could not stat",
        )
    values = {k: int(meta[k]) for k in _INT_FIELDS if meta.get(k, "").isdigit()}
    read = meta.get("read") != "no"  # a stat step (Batch.add_stat): no bytes, by construction
    content = result.stdout if read and kind in ("file", "symlink") and meta.get("mode") else None
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
    """Paths round 1 told us about: unit files, drop-ins, env files, rules.d, certs.d, the seccomp profile
    named in daemon.json, the API's unix sockets (3.15/3.16) (TLS files: tls_files)."""
    parsed = facts.parsed
    paths = [*parsed.discovered_paths, *effective_config(facts).unix_sockets]
    for unit in (parsed.service, parsed.socket):
        paths += unit.files + [path for path, _optional in unit.environment_files]
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
