"""The lab fleet: boot, inspect and tear down a set of real Docker hosts on this machine.

A lab lives in LAB_HOME/<name>/ (state.json, lab ssh key, known_hosts,
inventory.yml, hosts/<host>/). Base images, one per Docker engine and recipe,
are shared by all labs in LAB_HOME/images/. A lab runs one engine, remembered in
its state. `up` converges to the wanted host list and is idempotent; `down`
stops only what the lab recorded, by PID, and can run any number of times.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from remediate.errors import LabError
from remediate.lab import host as labhost
from remediate.lab import image, scenarios
from remediate.lab.host import NO_LATENCY, LabHost, Latency
from remediate.lab.proc import ProcessRef
from remediate.templates import render

LAB_HOME = Path(os.environ.get("REMEDIATE_LAB_HOME", "/var/lib/remediate-lab"))
BASTION = "bastion"
BECOME_HOST = "stock"
FIRST_JUMP_PORT = 2200
# Containers on lab hosts get nofile 16384 (the lab inventory's policy and the `hardened` scenario); hosts
# inherit this machine's hard limit and cannot raise it, so it must be at least that.
LAB_NOFILE = 16384
# Each lab host's systemd holds about seven inotify instances; the kernel default (128 per user, and every
# host runs as root) stops the third ten-host lab from booting. Raised like kind and k3d advise.
INOTIFY_LIMITS = {"/proc/sys/fs/inotify/max_user_instances": 8192, "/proc/sys/fs/inotify/max_user_watches": 524288}
SCENARIO_ORDER = (
    "stock",
    "tcp-daemon-json",
    "tcp-docker-opts",
    "tcp-socket-unit",
    "loose-perms",
    "risky-containers",
    "custom-settings",
    "hardened",
    "broken-json",
)
# Scenarios booted only when asked for (`lab.up --with docker-ce,tcp-mutual-tls`), so the default lab, and every test
# that expects exactly its hosts, keeps its shape.
OPTIONAL_SCENARIOS = ("docker-ce", "tcp-mutual-tls", "swarm")


@dataclass
class HostStatus:
    name: str
    scenario: str
    port: int
    alive: bool
    docker: str
    version: str = ""


class Lab:
    """A named lab under LAB_HOME; tests use their own name so a user's lab is never touched."""

    def __init__(
        self,
        name: str = "default",
        home: Path = LAB_HOME,
        log=print,
        scenario_names: tuple[str, ...] = SCENARIO_ORDER,
        extra_packages: tuple[str, ...] = (),
        engine: str | None = None,
        latency: Latency = NO_LATENCY,
    ):
        """extra_packages: Debian packages added to the base image (part of its recipe, so cached apart).

        engine: the Docker engine to boot (see image.ENGINES; `newest` and `28.5` are one); None keeps
        the engine the lab already runs, or takes image.DEFAULT_ENGINE for a new lab.
        latency: the round trip every forwarder adds (controller to host, bastion to host); `up` restarts
        the forwarders of running hosts that run with another one.
        """
        if not name.replace("-", "").isalnum() or name == "images":
            raise LabError(f"invalid lab name {name!r}")
        self.name = name
        self.home = home
        self.dir = home / name
        self.log = log
        self.scenario_names = tuple(scenario_names)
        self.extra_packages = tuple(extra_packages)
        self.requested_engine = image.engine(engine).name if engine is not None else None
        self.latency = latency

    # Paths a user or a test needs.
    @property
    def key_file(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def turns_log(self, host_name: str) -> Path:
        """The relay's per-connection round trips for connections from this machine to the host."""
        return self.dir / "hosts" / host_name / "turns.jsonl"

    # State.
    def load_state(self) -> dict:
        if not self.state_file.exists():
            return {"hosts": {}, "ops_password": "", "container_secret": ""}
        return json.loads(self.state_file.read_text())

    def recorded_engine(self, state: dict | None = None) -> str | None:
        """The engine the lab's hosts run; labs from before engines were recorded ran the default."""
        state = self.load_state() if state is None else state
        if state.get("engine"):
            return state["engine"]
        return image.DEFAULT_ENGINE if state.get("hosts") else None

    @property
    def engine(self) -> str:
        """The engine this lab boots: the one asked for, else the one it runs, else the default."""
        return self.requested_engine or self.recorded_engine() or image.DEFAULT_ENGINE

    def engine_info(self) -> dict:
        """The lab's engine and what its image holds (dockerd, containerd, runc versions), from its state."""
        state = self.load_state()
        return {
            "engine": self.recorded_engine(state) or self.engine,
            "image": state.get("image", ""),
            **state.get("versions", {}),
        }

    def hosts(self) -> dict[str, LabHost]:
        return {name: LabHost.from_json(data) for name, data in self.load_state()["hosts"].items()}

    def _save(self, state: dict, hosts: dict[str, LabHost]) -> None:
        state["hosts"] = {name: h.to_json() for name, h in sorted(hosts.items())}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)

    @contextmanager
    def _locked(self):
        """One lab operation at a time (two `lab.up` at once would boot hosts twice)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def wanted(self, extra: int) -> dict[str, str]:
        """Host name -> scenario for this lab's shape."""
        names = {BASTION: "stock"}
        names.update({name: name for name in self.scenario_names})
        names.update({f"stock-{i:02d}": "stock" for i in range(1, extra + 1)})
        return names

    # Operations.
    def up(self, extra: int = 0, inventory_copy: Path | None = None) -> dict[str, LabHost]:
        """Boot every wanted host that is not already running; stop hosts no longer wanted."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (namespaces, mounts, chroot)")
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < LAB_NOFILE:
            raise LabError(
                f"the open-files hard limit is {hard}; lab containers need {LAB_NOFILE} "
                f"(raise it with `ulimit -Hn {LAB_NOFILE}` as root before lab.up)"
            )
        self._raise_inotify_limits()
        for name in self.scenario_names:
            scenarios.get(name)  # an unknown scenario fails before anything boots
        with self._locked():
            state = self.load_state()
            hosts = self.hosts()
            engine = self._choose_engine(state, hosts)
            base = image.ensure_image(self.home / "images", self.extra_packages, log=self.log, engine_name=engine)
            found = image.versions(base)
            if state.get("image") != base.parent.name:
                note = image.version_note(image.engine(engine), found)
                if note:
                    self.log(note)
            state.update(
                engine=engine,
                image=base.parent.name,
                versions={k: found.get(k, "") for k in ("dockerd", "containerd", "runc")},
            )
            self._ensure_credentials(state)
            wanted = self.wanted(extra)
            for name in [n for n in hosts if n not in wanted or not hosts[n].alive()]:
                self._stop_host(hosts.pop(name))
            try:
                self._set_latency(hosts)
            finally:
                self._save(state, hosts)  # the forwarders it restarted are ours to stop, even if one failed
            missing = [n for n in wanted if n not in hosts]
            if missing:
                self.log(f"booting {len(missing)} lab host(s): {', '.join(missing)}")
            # The bastion must exist before the others can publish their jump ports in it.
            if BASTION in missing:
                hosts[BASTION] = self._boot(BASTION, wanted[BASTION], state, None, 0, base)
                missing.remove(BASTION)
                for h in hosts.values():
                    if h.name != BASTION:
                        self._publish_jump_port(h, hosts[BASTION].pid)
            used = {h.jump_port for h in hosts.values()}
            jump_ports = iter(p for p in range(FIRST_JUMP_PORT, FIRST_JUMP_PORT + 10000) if p not in used)
            plan = [(n, wanted[n], next(jump_ports)) for n in missing]
            bastion_pid = hosts[BASTION].pid
            with ThreadPoolExecutor(max_workers=min(10, max(1, len(plan)))) as pool:
                futures = {n: pool.submit(self._boot, n, sc, state, bastion_pid, jp, base) for n, sc, jp in plan}
                errors = []
                for name, future in futures.items():
                    try:
                        hosts[name] = future.result()
                    except Exception as exc:
                        errors.append(f"{name}: {exc}")
            self._save(state, hosts)
            self._write_access_files(state, hosts, inventory_copy)
            if errors:
                raise LabError("some lab hosts failed to boot:\n  " + "\n  ".join(errors))
            return hosts

    def _choose_engine(self, state: dict, hosts: dict[str, LabHost]) -> str:
        """The engine to boot; a lab never mixes engines, so asking a running lab for another one fails."""
        recorded = self.recorded_engine(state)
        wanted = self.requested_engine or recorded or image.DEFAULT_ENGINE
        running = [h for h in hosts.values() if h.alive()]
        if recorded and wanted != recorded and running:
            versions = state.get("versions", {})
            got = f" (dockerd {versions['dockerd']})" if versions.get("dockerd") else ""
            raise LabError(
                f"lab {self.name!r} runs Docker engine {recorded}{got} on {len(running)} host(s); it will not mix "
                f"in engine {wanted}. Stop it first (invoke lab.down --name {self.name}) or boot engine {wanted} "
                f"as another lab (--name)"
            )
        return wanted

    def down(self) -> list[str]:
        """Stop every host this lab recorded and delete its files; harmless when nothing runs."""
        with self._locked():
            state = self.load_state()
            hosts = self.hosts()
            stopped = list(hosts)
            for name in stopped:
                self._stop_host(hosts.pop(name))
            self._save(state, hosts)
            hosts_dir = self.dir / "hosts"
            if hosts_dir.exists():
                for leftover in hosts_dir.iterdir():
                    labhost.remove_dir(leftover)
            return stopped

    def status(self) -> list[HostStatus]:
        """Each host's state; `docker` is dockerd's unit state and, when it answers, its version."""
        hosts = list(self.hosts().values())
        with ThreadPoolExecutor(max_workers=min(10, max(1, len(hosts)))) as pool:
            return list(pool.map(self._host_status, hosts))

    @staticmethod
    def _host_status(h: LabHost) -> HostStatus:
        alive = h.alive()
        docker, version = "-", ""
        if alive:
            try:
                result = labhost.host_exec(h, ["systemctl", "is-active", "docker.service"], check=False, timeout=30)
                docker = result.stdout.decode().strip() or "unknown"
                # Ask the running daemon (through the lab's back door), not the package: it is what serves.
                answer = labhost.host_exec(
                    h, ["docker", "version", "--format", "{{.Server.Version}}"], check=False, timeout=30
                )
                version = answer.stdout.decode().strip() if answer.returncode == 0 else ""
            except LabError:
                docker = "no answer"  # a status must show every host, even one too busy to reply
            if version:
                docker = f"{docker} {version}"
        return HostStatus(h.name, h.scenario, h.port, alive, docker, version)

    def ssh_argv(self, name: str, command: list[str] | None = None) -> list[str]:
        """An OpenSSH command line for a lab host, with strict host-key checking."""
        hosts = self.hosts()
        if name not in hosts:
            raise LabError(f"no lab host {name!r}; hosts: {', '.join(hosts) or 'none (run lab.up)'}")
        return [
            "ssh",
            "-i",
            str(self.key_file),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-p",
            str(hosts[name].port),
            "root@127.0.0.1",
            *(command or []),
        ]

    # Internals.
    def _raise_inotify_limits(self) -> None:
        for path, wanted in INOTIFY_LIMITS.items():
            current = int(Path(path).read_text())
            if current < wanted:
                Path(path).write_text(f"{wanted}\n")
                self.log(
                    f"raised {path.removeprefix('/proc/sys/').replace('/', '.')} from {current} to {wanted} "
                    "(lab hosts each hold several inotify instances)"
                )

    def _ensure_credentials(self, state: dict) -> None:
        if not self.key_file.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"remediate-lab-{self.name}",
                    "-f",
                    str(self.key_file),
                ],
                check=True,
            )
        state["ops_password"] = state.get("ops_password") or secrets.token_urlsafe(18)
        state["container_secret"] = state.get("container_secret") or "lab-secret-" + secrets.token_hex(12)

    def _boot(
        self, name: str, scenario_name: str, state: dict, bastion_pid: int | None, jump_port: int, base: Path
    ) -> LabHost:
        """Boot one host; a boot that fails is retried once from scratch, with the first error kept."""
        try:
            return self._boot_once(name, scenario_name, state, bastion_pid, jump_port, base)
        except LabError as first:
            self.log(f"{name}: boot failed, retrying once: {first}")
            return self._boot_once(name, scenario_name, state, bastion_pid, jump_port, base)

    def _boot_once(
        self, name: str, scenario_name: str, state: dict, bastion_pid: int | None, jump_port: int, base: Path
    ) -> LabHost:
        scenario = scenarios.get(scenario_name)
        host_dir = self.dir / "hosts" / name
        host = LabHost(name=name, scenario=scenario_name, jump_port=jump_port)
        try:
            host.host_key = labhost.prepare(name, host_dir, base, self.key_file.with_suffix(".pub").read_text())
            scenarios.seed_files(scenario, labhost.Layer(host_dir / "upper", base))
            labhost.boot(host, host_dir, base, self.name)
            labhost.wait_booted(host)
            labhost.host_exec(host, ["chpasswd"], stdin=f"ops:{state['ops_password']}\n".encode())
            scenarios.run_setup(scenario, host, {"container_secret": state["container_secret"]})
            problems = scenarios.verify(scenario, host)
            if problems:
                raise LabError(f"scenario {scenario_name} does not hold: " + "; ".join(problems))
            host.port = labhost.free_port()
            self._forward(host)
            if bastion_pid:
                self._publish_jump_port(host, bastion_pid)
        except BaseException:
            self._stop_host(host)
            raise
        return host

    def _forward(self, host: LabHost) -> None:
        """(Re)start the forwarder from this machine to the host, with the lab's latency."""
        _stop_forwarder(host.forwarder)
        host.rtt_ms, host.jitter_ms = self.latency.rtt_ms, self.latency.jitter_ms
        host.forwarder = labhost.start_forwarder(
            host.pid,
            self.dir / "hosts" / host.name / "forward.log",
            listen_port=host.port,
            latency=host.latency,
            turns_path=self.turns_log(host.name),
        )

    def _publish_jump_port(self, host: LabHost, bastion_pid: int) -> None:
        """Make the host's sshd reachable at 127.0.0.1:jump_port from inside the bastion only."""
        _stop_forwarder(host.jump_forwarder)
        host.jump_forwarder = labhost.start_forwarder(
            host.pid,
            self.dir / "hosts" / host.name / "jump-forward.log",
            listen_port=host.jump_port,
            in_netns_of=bastion_pid,
            latency=self.latency,
            turns_path=self.dir / "hosts" / host.name / "jump-turns.jsonl",
        )

    def _set_latency(self, hosts: dict[str, LabHost]) -> None:
        """Restart the forwarders of running hosts whose latency is not the one asked for (same ports)."""
        changed = [h for h in hosts.values() if h.latency != self.latency]
        if not changed:
            return
        self.log(f"latency: round trip {self.latency.rtt_ms:g} ms (jitter {self.latency.jitter_ms:g} ms)")
        bastion = hosts.get(BASTION)
        for host in changed:
            self._forward(host)
            if host.jump_forwarder and bastion:
                self._publish_jump_port(host, bastion.pid)

    def _stop_host(self, host: LabHost) -> None:
        labhost.stop(host, self.name)
        host_dir = self.dir / "hosts" / host.name
        if host_dir.exists():
            labhost.remove_dir(host_dir)

    def _write_access_files(self, state: dict, hosts: dict[str, LabHost], inventory_copy: Path | None) -> None:
        lines = []
        for h in hosts.values():
            lines.append(f"[127.0.0.1]:{h.port} {h.host_key}")
            if h.jump_port:
                lines.append(f"[127.0.0.1]:{h.jump_port} {h.host_key}")
        self.known_hosts.write_text("\n".join(lines) + "\n")
        groups: dict[str, list[LabHost]] = {}
        for h in hosts.values():
            if h.name == BASTION:
                continue
            group = "extra" if h.name.startswith("stock-") else scenarios.get(h.scenario).group
            groups.setdefault(group, []).append(h)
        text = render(
            "lab/inventory.yml.j2",
            lab_name=self.name,
            key_file=str(self.key_file),
            known_hosts=str(self.known_hosts),
            docker_groups=[{"name": g, "hosts": groups[g]} for g in sorted(groups)],
            bastion=hosts[BASTION],
            become_host=hosts.get(BECOME_HOST),
            ops_password=state["ops_password"],
        )
        for path in (self.inventory_path, inventory_copy):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text)
                os.chmod(tmp, 0o600)
                tmp.replace(path)


def _stop_forwarder(ref: ProcessRef | None) -> None:
    """Stop a forwarder and wait, so its port can be bound again at once."""
    if ref:
        ref.kill()
        ref.wait_gone()
