"""Small, explicit edits of captured host facts, for check tests.

Start from a fixture captured on a lab host (tests/fixtures/facts/<scenario>.json)
and change one thing at a time; every edit returns a new Facts and leaves the
one it was called on untouched, so a base can be shared by many cases:

    hardened().mode("/etc/docker/daemon.json", 0o602)
    stock().daemon_json({"cgroup-parent": "/custom"})
    hardened().containers(container(Privileged=True))

FileFact and CommandFact are frozen: edits go through dataclasses.replace on a
copy of the HostFacts' dicts, never through the fixture itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from remediate.facts.model import CommandFact, FileFact, HostFacts
from remediate.facts.parse import json_lines
from remediate.facts.probes import is_key_material

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
DAEMON_JSON = "/etc/docker/daemon.json"


@cache
def _raw(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@cache
def _loaded(name: str) -> HostFacts:
    return HostFacts.from_json(_raw(name))


@dataclass(frozen=True)
class Facts:
    """A HostFacts under construction; every method returns an edited copy."""

    facts: HostFacts

    def _copy(self) -> HostFacts:
        f = self.facts
        return HostFacts(host=f.host, files=dict(f.files), commands=dict(f.commands), round_trips=f.round_trips)

    # --- files ------------------------------------------------------------------
    def file(self, path: str, **changes) -> Facts:
        """dataclasses.replace on an existing file fact (mode=, owner=, group=, kind=...)."""
        facts = self._copy()
        if path not in facts.files:
            raise KeyError(f"{path} is not in the facts of {facts.host}: use add_file")
        facts.files[path] = replace(facts.files[path], **changes)
        return Facts(facts)

    def mode(self, path: str, mode: int) -> Facts:
        return self.file(path, mode=mode)

    def owner(self, path: str, owner_group: str) -> Facts:
        owner, group = owner_group.split(":")
        return self.file(path, owner=owner, group=group)

    def add_file(
        self,
        path: str,
        text: str | None = None,
        *,
        kind: str = "file",
        mode: int = 0o644,
        owner: str = "root",
        group: str = "root",
        inode: tuple[int, int] | None = None,
    ) -> Facts:
        """A new file fact. Key material (probes.is_key_material) gets its size but no content, as gather
        records it: it is only ever stat-ed."""
        facts = self._copy()
        content = text.encode() if text is not None else None
        dev, ino = inode or (None, None)
        facts.files[path] = FileFact(
            path=path,
            kind=kind,
            mode=mode,
            uid=0,
            gid=0,
            owner=owner,
            group=group,
            size=len(content) if content is not None else None,
            content=None if is_key_material(path) else content,
            dev=dev,
            ino=ino,
        )
        return Facts(facts)

    def remove_file(self, path: str) -> Facts:
        facts = self._copy()
        facts.files[path] = FileFact(path=path, kind="missing")
        return Facts(facts)

    def text(self, path: str, text: str) -> Facts:
        content = text.encode()
        return self.file(path, content=content, size=len(content))

    def append(self, path: str, line: str) -> Facts:
        return self.text(path, (self.facts.file(path).text() or "") + line + "\n")

    def without_line(self, path: str, line: str) -> Facts:
        """Remove one line (matched exactly, surrounding blanks aside) from a file's content."""
        lines = (self.facts.file(path).text() or "").splitlines(keepends=True)
        kept = [x for x in lines if x.strip() != line.strip()]
        if len(kept) != len(lines) - 1:
            raise ValueError(f"{line!r} is not exactly once in {path}")
        return self.text(path, "".join(kept))

    # --- daemon.json --------------------------------------------------------------
    def daemon_json(self, changes: dict) -> Facts:
        """Set keys of daemon.json (None removes a key), written one key per line like the lab's files."""
        current = self.facts.file(DAEMON_JSON)
        data = json.loads(current.content) if current.exists and current.content else {}
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return self.daemon_json_text(json.dumps(data, indent=2) + "\n")

    def daemon_json_text(self, text: str) -> Facts:
        if self.facts.file(DAEMON_JSON).exists:
            return self.text(DAEMON_JSON, text)
        return self.add_file(DAEMON_JSON, text)

    # --- commands ---------------------------------------------------------------
    def command(self, name: str, stdout: str | None = None, *, rc: int | None = None) -> Facts:
        facts = self._copy()
        old = facts.command(name)
        changes = {k: v for k, v in (("stdout", stdout), ("rc", rc)) if v is not None}
        facts.commands[name] = (
            replace(old, **changes)
            if name in facts.commands
            else CommandFact(rc=changes.get("rc", 0), stdout=changes.get("stdout", ""))
        )
        return Facts(facts)

    def _props(self, command: str, props: dict[str, str]) -> Facts:
        lines = self.facts.command(command).stdout.splitlines()
        for key, value in props.items():
            new = f"{key}={value}"
            found = [i for i, line in enumerate(lines) if line.partition("=")[0] == key]
            if found:
                lines[found[0]] = new
            else:
                lines.append(new)
        return self.command(command, "\n".join(lines) + "\n")

    def service(self, **props: str) -> Facts:
        """Edit `systemctl show docker.service` properties (ActiveState=..., DropInPaths=...)."""
        return self._props("service", props)

    def socket(self, **props: str) -> Facts:
        return self._props("socket", props)

    def exec_start(self, argv: str) -> Facts:
        """Replace the argv[] of the service's ExecStart property (what `systemctl show` prints)."""
        current = self.facts.command("service").stdout
        match = re.search(r"^ExecStart=.*$", current, re.MULTILINE)
        assert match, "no ExecStart property in the service facts"
        line = re.sub(r"argv\[\]=.*? ; ignore_errors=", lambda _m: f"argv[]={argv} ; ignore_errors=", match.group(0))
        return self.service(ExecStart=line.partition("=")[2])

    def docker_info(self, **changes) -> Facts:
        info = json.loads(self.facts.command("docker_info").stdout)
        info.update(changes)
        return self.command("docker_info", json.dumps(info))

    def containers(self, *containers: dict) -> Facts:
        """The `containers` probe's output: one docker-inspect JSON line per container."""
        return self.command("containers", "".join(json.dumps(c) + "\n" for c in containers), rc=0)

    def build(self) -> HostFacts:
        return self._copy()


def fixture(name: str) -> Facts:
    return Facts(_loaded(name))


def hardened() -> Facts:
    return fixture("hardened")


def stock() -> Facts:
    return fixture("stock")


def captured_containers(name: str = "risky-containers") -> dict[str, dict]:
    """The containers a fixture captured, by name ("privileged", "sock-mount", ...)."""
    lines = _loaded(name).command("containers").stdout
    return {c["Name"].lstrip("/"): c for c in json_lines(lines)}  # beside them: the probe's config.v2.json grep lines


# A container that passes every container check: the captured /privileged container of
# risky-containers with each risky field turned into its safe value.
SAFE_CONTAINER_FIELDS = {
    "Name": "/web",
    "Status": "running",
    "User": "1000:1000",
    "Privileged": False,
    "CapAdd": None,
    "SecurityOpt": ["no-new-privileges:true"],
    "PidMode": "",
    "IpcMode": "private",
    "UTSMode": "",
    "UsernsMode": "",
    "Memory": 268435456,
    "PidsLimit": 100,
    "ReadonlyRootfs": True,
    "PortBindings": {"8080/tcp": [{"HostIp": "10.0.0.5", "HostPort": "8080"}]},
    "Devices": [],
    "Mounts": [
        {
            "Destination": "/data",
            "Mode": "",
            "Propagation": "rprivate",
            "RW": True,
            "Source": "/srv/web-data",
            "Type": "bind",
        }
    ],
    "Healthcheck": {"Test": ["CMD", "wget", "-q", "--spider", "http://localhost:8080/"]},
    "AppArmorProfile": "docker-default",
    "CpuShares": 512,
    "RestartPolicy": {"MaximumRetryCount": 5, "Name": "on-failure"},
    "CgroupParent": "",
    "Image": "registry.lab.invalid:5000/web@sha256:" + "0f" * 32,
    "NetworkMode": "webnet",
    "CapDrop": ["ALL"],
    "PublishAllPorts": False,
    "ExposedPorts": {"8080/tcp": {}},
    "Ports": None,
    "Ulimits": None,
    "Path": "/usr/local/bin/web",
    "ExecIDs": None,
}


def container(**changes) -> dict:
    """A safe container with `changes` applied (field names as in the probe's inspect template)."""
    base = dict(captured_containers()["privileged"])
    base.update(SAFE_CONTAINER_FIELDS)
    base.update(changes)
    return base


def mount(source: str, *, rw: bool = True, propagation: str = "rprivate", destination: str | None = None) -> dict:
    return {
        "Destination": destination or source,
        "Mode": "",
        "Propagation": propagation,
        "RW": rw,
        "Source": source,
        "Type": "bind",
    }


def port(host_port: str, host_ip: str = "10.0.0.5", container_port: str = "8080/tcp") -> dict:
    return {container_port: [{"HostIp": host_ip, "HostPort": host_port}]}
