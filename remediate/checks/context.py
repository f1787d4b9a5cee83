"""What a check predicate sees: the host's typed facts (HostFacts.parsed), and views derived from them.

Command output was parsed once, by remediate.facts.typed; views here combine typed facts and are cached,
so a check catalogue of ~80 predicates derives each at most once per host.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from remediate.dockerd.setting import Setting
from remediate.facts import parse
from remediate.facts.model import FileFact, HostFacts
from remediate.facts.parse import Listener
from remediate.facts.typed import Parsed, Unit
from remediate.policy import Policy


@dataclass(frozen=True)
class AuditdRule:
    source: str
    line: int
    text: str

    def watched_path(self) -> str | None:
        """The path of a `-w PATH` rule or of a `-F path=PATH` / `-F dir=PATH` syscall rule."""
        words = self.text.split()
        for i, word in enumerate(words):
            if word == "-w" and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(("path=", "dir=")) and i > 0 and words[i - 1] == "-F":
                return word.partition("=")[2]
        return None


@dataclass
class CheckContext:
    facts: HostFacts
    policy: Policy
    host_name: str = ""
    groups: tuple[str, ...] = ()
    today: dt.date = field(default_factory=dt.date.today)

    @property
    def parsed(self) -> Parsed:
        return self.facts.parsed

    # --- dockerd and its units -------------------------------------------------
    @property
    def service(self) -> Unit:
        return self.parsed.service

    @property
    def socket(self) -> Unit:
        return self.parsed.socket

    @cached_property
    def docker_installed(self) -> bool:
        """dockerd on PATH, or a loaded docker.service that runs a dockerd (installed elsewhere). A unit
        systemd generated from a leftover /etc/init.d/docker (package removed, not purged) is not dockerd."""
        if self.parsed.dockerd_version.installed:
            return True
        binary = self.service.exec_paths[-1] if self.service.exec_paths else ""
        return self.service.load_state == "loaded" and binary.rsplit("/", 1)[-1] == "dockerd"

    @property
    def docker_info(self) -> dict | None:
        """What the running dockerd answered; None when it did not (down, unreachable, not installed)."""
        return self.parsed.docker_info

    @cached_property
    def daemon_json_path(self) -> str:
        return self.effective.daemon_json_path

    @cached_property
    def daemon_json(self) -> FileFact:
        return self.facts.file(self.daemon_json_path)

    @cached_property
    def effective(self):
        from remediate.facts.dockerd_inputs import effective_config

        return effective_config(self.facts)

    @cached_property
    def socket_listen(self) -> list[str]:
        """docker.socket's stream listen addresses: unix paths, ports, host:port (systemd's Listen property)."""
        return list(self.socket.listen)

    @cached_property
    def docker_socket_paths(self) -> set[str]:
        """docker.socket's paths and dockerd's own unix:// hosts (-H, daemon.json), as the host names them."""
        return set(self.effective.unix_sockets) or {"/run/docker.sock"}

    @cached_property
    def containers_known(self) -> bool:
        """False when dockerd did not answer: container checks cannot conclude anything. The probe skips
        `docker ps` when docker info counted no containers, and a down 26.1+ client's zero-valued info counts
        none: only an answering daemon's count is a count."""
        return self.parsed.containers.listed and self.docker_info is not None

    def setting(self, key: str):
        """The effective value of a daemon setting (value, source, origin), default when unset."""
        return self.effective.values.get(key) or Setting(None, None, "default")

    def unit_files(self, unit: str) -> list[FileFact]:
        """The unit's own file and every drop-in systemd loaded for it."""
        found = self.service if unit == "docker.service" else self.socket
        if found.masked:
            return []  # its "unit file" is a link to /dev/null: nothing of the unit's to judge or chmod
        return [self.facts.file(p) for p in found.files]

    # --- host ------------------------------------------------------------------
    @cached_property
    def binaries(self) -> dict[str, str]:
        return dict(self.parsed.binaries)

    @cached_property
    def containers(self) -> list[dict]:
        return list(self.parsed.containers.items)

    @cached_property
    def running_containers(self) -> list[dict]:
        return [c for c in self.containers if c.get("Status") == "running"]

    # --- images (CIS 4, 6) -----------------------------------------------------
    @cached_property
    def images_known(self) -> bool:
        """False when dockerd did not answer or the listing failed: image checks cannot conclude anything."""
        return self.parsed.images.listed and self.docker_info is not None

    @cached_property
    def images(self) -> list[dict]:
        return list(self.parsed.images.items)

    @cached_property
    def image_of_container(self) -> dict[str, str]:
        """Container name -> the id of the image it runs (not its Config.Image, which a re-tag may have moved)."""
        return {
            c["Name"].lstrip("/"): c["ImageId"]
            for c in self.containers
            if isinstance(c.get("Name"), str) and isinstance(c.get("ImageId"), str)
        }

    @cached_property
    def images_in_use(self) -> list[dict]:
        """The images some container (running or created) runs."""
        used = set(self.image_of_container.values())
        return [i for i in self.images if i["Id"] in used]

    # --- swarm (CIS 7) ---------------------------------------------------------
    @cached_property
    def swarm(self) -> dict:
        """docker info's Swarm section ({} when dockerd did not answer)."""
        swarm = (self.docker_info or {}).get("Swarm")
        return swarm if isinstance(swarm, dict) else {}

    @cached_property
    def swarm_manager(self) -> bool:
        return self.swarm.get("ControlAvailable") is True

    @cached_property
    def swarm_spec(self) -> dict:
        """The cluster's spec (autolock, certificate expiry): only a manager's docker info has it."""
        cluster = self.swarm.get("Cluster")
        spec = cluster.get("Spec") if isinstance(cluster, dict) else None
        return spec if isinstance(spec, dict) else {}

    @cached_property
    def overlay_networks(self) -> list[dict]:
        return list(self.parsed.swarm_networks.items)

    @cached_property
    def swarm_services(self) -> list[dict]:
        return list(self.parsed.swarm_services.items)

    @cached_property
    def swarm_node(self) -> dict:
        """dockerd's swarm state file: the node's listen, advertise and data path addresses."""
        return self.parsed.swarm_node.state

    @cached_property
    def auditd_rules(self) -> list[AuditdRule]:
        """Rules loaded in the kernel when auditctl answers, else the rules files."""
        loaded = self.parsed.auditctl.rules
        if loaded is not None:
            return [AuditdRule("auditctl -l", n, line) for n, line in enumerate(loaded, 1)]
        rules: list[AuditdRule] = []
        for path, fact in sorted(self.facts.files.items()):
            if (path.startswith("/etc/audit/rules.d/") and path.endswith(".rules")) or path == "/etc/audit/audit.rules":
                for n, line in enumerate(parse.lines(fact.text() or ""), 1):
                    if line.strip() and not line.lstrip().startswith("#"):
                        rules.append(AuditdRule(path, n, line.strip()))
        return rules

    @cached_property
    def resolved_dirs(self) -> dict[str, str]:
        """Directories as the host resolves them (readlink -m): those the dir_chain probe was asked about (the
        fixed paths' and the units' directories) and those of every audit rule's path (audit_dirs)."""
        return {**self.parsed.dir_chain.resolved, **self.parsed.audit_dirs}

    def canonical(self, path: str) -> str:
        """`path` as an audit watch on it sees it on this host (parse.canonical_path): the one way audit paths
        are compared, so /lib/systemd/system/x and /usr/lib/systemd/system/x are one file where /lib -> usr/lib."""
        return parse.canonical_path(path, self.resolved_dirs)

    @cached_property
    def watches(self) -> dict[str, list[AuditdRule]]:
        """The audit rules by the path they watch as this host resolves it, in rule order: built once, as some
        twenty checks each look up one path among every rule."""
        found: dict[str, list[AuditdRule]] = {}
        for rule in self.auditd_rules:
            watched = rule.watched_path()
            if watched:
                found.setdefault(self.canonical(watched), []).append(rule)
        return found

    def rules_watching(self, path: str) -> list[AuditdRule]:
        """The audit rules that watch `path`, whatever their spelling of it."""
        return list(self.watches.get(self.canonical(path), ()))

    @cached_property
    def listeners(self) -> list[Listener]:
        return list(self.parsed.listeners)

    @cached_property
    def docker_group_members(self) -> list[str]:
        return list(self.parsed.docker_group.members)

    @cached_property
    def os_release(self) -> dict[str, str]:
        return parse.os_release(self.facts.file("/etc/os-release").text() or "")
