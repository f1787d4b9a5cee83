"""Every probe's output as a typed value, parsed once: a pure parser per fact, as in pyinfra.

A fact is a command (remediate.facts.probes) plus a parser here. HostFacts keeps what the host printed (the
saved format: captured fixtures stay real) and parses it with these parsers, at gather time or when saved
facts are loaded. Everything downstream (checks, the dockerd model, the planner, its simulation, apply
verification, reports) reads the typed values, never command output; the simulation edits typed fields.
Every value is plain data (dataclasses of str, int, bool, tuples, dicts, JSON documents): `as_json` renders it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from remediate.facts import parse
from remediate.facts.dirs import DirChain, parse_dir_chain

if TYPE_CHECKING:
    from remediate.facts.model import CommandFact

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Unit:
    """A systemd unit as `systemctl show` reported it (the `service` and `socket` facts)."""

    known: bool = False  # systemctl answered (False: not installed, or not gathered)
    load_state: str = ""
    active_state: str = "unknown"
    sub_state: str = ""
    result: str = ""
    unit_file_state: str = ""
    fragment_path: str = ""
    drop_ins: tuple[str, ...] = ()  # in the order systemd applies them
    exec_start: tuple[str, ...] = ()  # each ExecStart= command's argv[], joined as systemctl prints it
    exec_paths: tuple[str, ...] = ()  # the executable of each ExecStart= command
    environment: Mapping[str, str] = field(default_factory=dict)  # Environment=, unquoted
    environment_files: tuple[tuple[str, bool], ...] = ()  # EnvironmentFile= (path, optional), in order
    listen: tuple[str, ...] = ()  # a socket's stream listen addresses
    socket_mode: str = ""
    socket_user: str = ""
    socket_group: str = ""

    @property
    def files(self) -> list[str]:
        """The unit's fragment, then its drop-ins: the one place "unit plus drop-ins" is assembled."""
        return [p for p in (self.fragment_path, *self.drop_ins) if p]

    @property
    def masked(self) -> bool:
        return self.load_state == "masked"


@dataclass(frozen=True)
class DockerdVersion:
    """`dockerd --version` (or the running daemon's version, probes.SNIPPETS): installed False when no dockerd."""

    installed: bool = False
    version: str | None = None  # as printed: 26.1.5+dfsg1
    text: str = ""  # the line as printed, for evidence


@dataclass(frozen=True)
class Listing:
    """A docker listing (images, overlay networks, services): `listed` False when the command failed."""

    listed: bool = False
    items: tuple[JsonObject, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class Containers(Listing):
    """Containers (CONTAINER_TEMPLATE), plus what the probe found beside the inspect JSON."""

    processes: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # id -> (pid, name)
    no_new_privileges: Mapping[str, bool] = field(default_factory=dict)  # id -> recorded at creation


@dataclass(frozen=True)
class SwarmNode:
    """dockerd's swarm state file (the node's addresses); `read` False when it could not be read."""

    read: bool = False
    state: JsonObject = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Auditctl:
    """`auditctl -l`: `present` False when auditd's tools are not installed; `rules` None when it gave no rules."""

    present: bool = False
    answered: bool = False
    rules: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DockerGroup:
    """`getent group docker`: `answered` False when getent is not installed (or not gathered)."""

    answered: bool = False
    exists: bool = False
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContentTrust:
    """A system-wide DOCKER_CONTENT_TRUST= assignment: the grep line and the value it sets."""

    line: str
    value: str


@dataclass(frozen=True)
class Parsed:
    """Every fact of a host, typed. Defaults are what a host that printed nothing shows."""

    service: Unit = Unit()
    socket: Unit = Unit()
    falco: tuple[str, ...] = ()  # ActiveState of each FALCO_UNITS
    dockerd_cmdline: tuple[str, ...] | None = None  # the running dockerd's argv; None: not running
    dockerd_version: DockerdVersion = DockerdVersion()
    docker_info: JsonObject | None = None  # None: no daemon answered (parse.docker_info)
    containers: Containers = Containers()
    images: Listing = Listing()
    swarm_networks: Listing = Listing()
    swarm_services: Listing = Listing()
    swarm_node: SwarmNode = SwarmNode()
    auditctl: Auditctl = Auditctl()
    listeners: tuple[parse.Listener, ...] = ()
    docker_group: DockerGroup = DockerGroup()
    dockremap_user: bool = False
    apparmor: bool = False
    selinux: str = ""
    ip_forward: str = ""
    user: str = ""  # `id -un`: who the facts were gathered as
    docker_root_mount: str = ""
    content_trust: tuple[ContentTrust, ...] = ()
    apply_lock: str | None = None  # who holds harden's lock on the host
    binaries: Mapping[str, str] = field(default_factory=dict)  # name -> resolved path
    dir_chain: DirChain = field(default_factory=lambda: DirChain({}, {}))
    audit_dirs: Mapping[str, str] = field(default_factory=dict)  # directory -> as the host resolves it
    discovered_paths: tuple[str, ...] = ()
    journal: tuple[str, ...] = ()  # docker.service's last journal lines, when it is down

    @property
    def swarm_state(self) -> str:
        """The node's swarm state as dockerd reports it ("inactive" when it did not answer)."""
        return parse.swarm_state(self.docker_info)

    @property
    def in_swarm(self) -> bool:
        return parse.in_swarm(self.docker_info)


def _text(c: CommandFact) -> str:
    return c.stdout.strip()


def unit(c: CommandFact) -> Unit:
    """The `service` or `socket` fact: `systemctl show` KEY=VALUE lines (probes.UNIT_FACTS)."""
    props = parse.systemctl_show(c.stdout)
    return Unit(
        known=not c.missing,
        load_state=props.get("LoadState", ""),
        active_state=props.get("ActiveState", "unknown"),
        sub_state=props.get("SubState", ""),
        result=props.get("Result", ""),
        unit_file_state=props.get("UnitFileState", ""),
        fragment_path=props.get("FragmentPath", ""),
        drop_ins=tuple(props.get("DropInPaths", "").split()),
        exec_start=tuple(parse.exec_start_commands(props.get("ExecStart", ""))),
        exec_paths=tuple(parse.exec_start_paths(props.get("ExecStart", ""))),
        environment=parse.environment(props.get("Environment", "")),
        environment_files=tuple(parse.environment_files(props.get("EnvironmentFiles", ""))),
        listen=tuple(parse.socket_listen(props)),
        socket_mode=props.get("SocketMode", ""),
        socket_user=props.get("SocketUser", ""),
        socket_group=props.get("SocketGroup", ""),
    )


def dockerd_version(c: CommandFact) -> DockerdVersion:
    match = re.search(r"version ([^,\s]+)", c.stdout)
    return DockerdVersion(installed=not c.missing, version=match.group(1) if match else None, text=c.stdout.strip())


def listing(c: CommandFact) -> Listing:
    return Listing(c.ok, tuple(parse.json_lines(c.stdout)), c.stderr.strip())


def images(c: CommandFact) -> Listing:
    return Listing(c.ok, tuple(parse.images(c.stdout)), c.stderr.strip())


def containers(c: CommandFact) -> Containers:
    return Containers(
        listed=c.ok,
        items=tuple(parse.json_lines(c.stdout)),
        error=c.stderr.strip(),
        processes={k: tuple(v) for k, v in parse.container_processes(c.stdout).items()},
        no_new_privileges=parse.container_no_new_privileges(c.stdout),
    )


def swarm_node(c: CommandFact) -> SwarmNode:
    return SwarmNode(c.ok, parse.json_object(c.stdout) or {}, c.stderr.strip())


def auditctl(c: CommandFact) -> Auditctl:
    """`auditctl -l` prints "No rules" when the kernel holds none."""
    rules = None
    if c.ok and c.stdout.strip() and "No rules" not in c.stdout:
        rules = tuple(line.strip() for line in parse.lines(c.stdout) if line.strip())
    return Auditctl(present=not c.missing, answered=c.ok, rules=rules)


def docker_group(c: CommandFact) -> DockerGroup:
    """`getent group docker`: NAME:x:GID:MEMBERS; getent exits 2 for a group that does not exist."""
    fields = c.stdout.strip().split(":")
    members = tuple(m for m in fields[3].split(",") if m) if len(fields) == 4 else ()
    return DockerGroup(answered=not c.missing, exists=c.ok, members=members)


# DOCKER_CONTENT_TRUST= as a shell or /etc/environment sets it (quoted or not, after `export`).
_TRUST_ASSIGNMENT = re.compile(r"""(?:^|[\s;])(?:export\s+)?DOCKER_CONTENT_TRUST=(?:"([^"]*)"|'([^']*)'|([^\s;]*))""")


def content_trust(c: CommandFact) -> tuple[ContentTrust, ...]:
    """Each active DOCKER_CONTENT_TRUST= assignment in the probe's `grep -H` output."""
    found: list[ContentTrust] = []
    for line in filter(str.strip, parse.lines(c.stdout)):
        content = line.partition(":")[2]
        if content.lstrip().startswith("#"):  # a commented-out line sets nothing
            continue
        found += [
            ContentTrust(line, next(v for v in match.groups() if v is not None))
            for match in _TRUST_ASSIGNMENT.finditer(content.partition(" #")[0])
        ]
    return tuple(found)


def dockerd_cmdline(c: CommandFact) -> tuple[str, ...] | None:
    """/proc/PID/cmdline, one word a line; None when no dockerd runs."""
    words = tuple(w for w in c.stdout.split("\n") if w)
    return words or None


def journal(c: CommandFact) -> tuple[str, ...]:
    return tuple(line.rstrip() for line in parse.lines(c.stdout) if line.strip())


# fact name (probes.COMMANDS, probes.SNIPPETS, as gather saves them) -> (Parsed field, parser)
PARSERS: dict[str, tuple[str, Callable[[CommandFact], Any]]] = {
    "service": ("service", unit),
    "socket": ("socket", unit),
    "falco": ("falco", lambda c: tuple(c.stdout.split())),
    "dockerd_cmdline": ("dockerd_cmdline", dockerd_cmdline),
    "dockerd_version": ("dockerd_version", dockerd_version),
    "docker_info": ("docker_info", parse.docker_info),
    "containers": ("containers", containers),
    "images": ("images", images),
    "swarm_networks": ("swarm_networks", listing),
    "swarm_services": ("swarm_services", listing),
    "swarm_node": ("swarm_node", swarm_node),
    "auditctl": ("auditctl", auditctl),
    "listeners": ("listeners", lambda c: tuple(parse.ss_listeners(c.stdout))),
    "docker_group": ("docker_group", docker_group),
    "dockremap_user": ("dockremap_user", lambda c: c.ok),
    "apparmor": ("apparmor", lambda c: _text(c) == "Y"),
    "selinux": ("selinux", _text),
    "ip_forward": ("ip_forward", _text),
    "id": ("user", _text),
    "docker_root_mount": ("docker_root_mount", _text),
    "content_trust": ("content_trust", content_trust),
    "apply_lock": ("apply_lock", lambda c: _text(c) or None),
    "binaries": ("binaries", lambda c: parse.key_values(c.stdout)),
    "dir_chain": ("dir_chain", lambda c: parse_dir_chain(c.stdout)),
    "audit_dirs": ("audit_dirs", lambda c: parse.resolved_dirs(c.stdout)),
    "discovered_paths": ("discovered_paths", lambda c: tuple(p for p in parse.lines(c.stdout) if p.startswith("/"))),
    "journal": ("journal", journal),
}


def parse_commands(command: Callable[[str], CommandFact]) -> Parsed:
    """Every fact parsed from what the host printed (`command(name)`: the CommandFact, or a not-gathered one)."""
    return Parsed(**{attr: parser(command(name)) for name, (attr, parser) in PARSERS.items()})


def reparse(parsed: Parsed, command: Callable[[str], CommandFact], names: set[str]) -> Parsed:
    """`parsed` with the facts `names` parsed again from what `command(name)` now holds."""
    found = {PARSERS[name][0]: PARSERS[name][1](command(name)) for name in names if name in PARSERS}
    return dataclasses.replace(parsed, **found) if found else parsed


def as_json(value: Any) -> Any:
    """A typed fact as JSON data (dataclasses as objects, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
