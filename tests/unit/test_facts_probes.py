"""The probe snippets that build on earlier probes, run for real through sh, and the split of the one
`systemctl show` into the per-unit facts the checks read."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from remediate.connection.batch import Batch, run_batch
from remediate.connection.local import LocalConnection
from remediate.facts import parse
from remediate.facts.gather import _discovered_paths, _split_units
from remediate.facts.model import CommandFact, HostFacts
from remediate.facts.probes import AUDITED_BINARIES, SNIPPETS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"

# A unit systemd does not know: `systemctl show` still prints its block.
NOT_FOUND = "MainPID=0\nLoadState=not-found\nActiveState=inactive\nFragmentPath=\nDropInPaths=\n"
FALCO_ACTIVE = (
    "MainPID=4242\nLoadState=loaded\nActiveState=active\n"
    "FragmentPath=/lib/systemd/system/falco-modern-bpf.service\nDropInPaths=\n"
)
# `systemctl show docker.service docker.socket falco*.service -p ...` as systemd 252 printed it on a lab host
# (the Falco units: falco, falco-modern-bpf (active here), falco-kmod, falco-bpf).
SYSTEMD_SHOW = (
    "MainPID=91\n"
    "ExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS ; ignore_errors=no ; "
    "start_time=[n/a] ; stop_time=[n/a] ; pid=91 ; code=(null) ; status=0/0 }\n"
    """\
EnvironmentFiles=/etc/default/docker (ignore_errors=yes)
EnvironmentFiles=/etc/docker/env file (ignore_errors=no)
LoadState=loaded
ActiveState=active
FragmentPath=/lib/systemd/system/docker.service
DropInPaths=/etc/systemd/system/docker.service.d/a.conf /etc/systemd/system/docker.service.d/b.conf

SocketMode=0660
Listen=/run/docker.sock (Stream)
Result=success
LoadState=loaded
ActiveState=active
FragmentPath=/lib/systemd/system/docker.socket
DropInPaths=

""" + "\n".join([NOT_FOUND, FALCO_ACTIVE, NOT_FOUND, NOT_FOUND])
)


def split(stdout: str, rc: int = 0, stderr: str = "") -> HostFacts:
    facts = HostFacts(host="h")
    facts.commands["systemd"] = CommandFact(rc, stdout, stderr)
    _split_units(facts)
    return facts


def test_one_systemctl_show_becomes_the_service_socket_and_falco_facts():
    facts = split(SYSTEMD_SHOW)
    assert "systemd" not in facts.commands
    service, socket = facts.command("service").stdout, facts.command("socket").stdout
    assert service.startswith("MainPID=91\nExecStart={ path=/usr/sbin/dockerd")
    assert "Listen=" not in service and "MainPID" not in socket
    assert "Result=" not in socket  # a property the socket fact never asked for stays out
    assert "Listen=/run/docker.sock (Stream)\n" in socket and "SocketMode=0660\n" in socket
    # as `systemctl is-active falco falco-modern-bpf falco-kmod falco-bpf` prints it: one is active, rc 0
    assert facts.command("falco") == CommandFact(0, "inactive\nactive\ninactive\ninactive\n")


def test_no_active_monitor_is_rc_3_and_a_missing_systemctl_is_missing_everywhere():
    quiet = SYSTEMD_SHOW.replace(
        "MainPID=4242\nLoadState=loaded\nActiveState=active", "MainPID=0\nLoadState=loaded\nActiveState=failed"
    )
    assert split(quiet).command("falco").rc == 3
    facts = split("", rc=127, stderr="sh: systemctl: not found")
    assert all(facts.command(name).missing for name in ("service", "socket", "falco"))


def test_unit_files_drop_ins_and_env_files_are_read_in_round_two():
    facts = split(SYSTEMD_SHOW)
    facts.commands["discovered_paths"] = CommandFact(0, "/etc/audit/rules.d/docker.rules\n")
    facts.commands["dockerd_cmdline"] = CommandFact(0, "")
    paths = _discovered_paths(facts)
    assert paths[:1] == ["/etc/audit/rules.d/docker.rules"]
    assert {
        "/lib/systemd/system/docker.service",
        "/lib/systemd/system/docker.socket",
        "/etc/systemd/system/docker.service.d/a.conf",
        "/etc/systemd/system/docker.service.d/b.conf",
        "/etc/default/docker",
        "/etc/docker/env file",
        "/etc/docker/daemon.json",
    } <= set(paths)
    assert "" not in paths


def run_snippet(name: str, tmp_path, path: str, **files: str) -> subprocess.CompletedProcess:
    env = {"PATH": path}
    for var, text in files.items():
        (tmp_path / var).write_text(text)
        env[var] = str(tmp_path / var)
    return subprocess.run(
        ["/bin/sh", "-c", SNIPPETS[name]], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def running_dockerd(tmp_path):
    """A process started from <tmp>/bin/dockerd (a copy of sleep), as docker.service's MainPID."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(shutil.which("sleep"), bindir / "dockerd")
    proc = subprocess.Popen([str(bindir / "dockerd"), "60"])
    for _ in range(100):  # until the exec happened and /proc shows the new image
        if os.readlink(f"/proc/{proc.pid}/exe") == str((bindir / "dockerd").resolve()):
            break
        time.sleep(0.01)
    yield bindir, proc.pid
    proc.kill()
    proc.wait()


INFO = '{"ID":"X","Containers":0,"ContainersRunning":0,"Images":0,"ServerVersion":"27.3.1","Name":"h"}\n'


def test_dockerd_version_comes_from_docker_info_when_the_running_binary_is_the_one_on_path(tmp_path, running_dockerd):
    bindir, pid = running_dockerd
    result = run_snippet(
        "dockerd_version",
        tmp_path,
        f"{bindir}:/usr/bin:/bin",
        UNITS=f"MainPID={pid}\nActiveState=active\n\nMainPID=77\n",
        INFO=INFO,
    )
    assert (result.returncode, result.stdout) == (0, "Docker version 27.3.1 (running)\n")


def test_dockerd_version_asks_the_binary_when_it_was_replaced_or_is_not_running(tmp_path, running_dockerd):
    bindir, pid = running_dockerd
    (bindir / "dockerd").unlink()  # a package upgrade: the running process keeps the deleted image
    (bindir / "dockerd").write_text("#!/bin/sh\necho 'Docker version 28.0.1, build abc'\n")
    (bindir / "dockerd").chmod(0o755)
    path = f"{bindir}:/usr/bin:/bin"
    replaced = run_snippet("dockerd_version", tmp_path, path, UNITS=f"MainPID={pid}\n", INFO=INFO)
    assert replaced.stdout == "Docker version 28.0.1, build abc\n"
    stopped = run_snippet("dockerd_version", tmp_path, path, UNITS="MainPID=0\n", INFO="")
    assert stopped.stdout == "Docker version 28.0.1, build abc\n"


def test_dockerd_version_is_rc_127_when_no_dockerd_is_installed(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("sed", "readlink"):
        (tools / tool).symlink_to(shutil.which(tool))
    result = run_snippet("dockerd_version", tmp_path, str(tools), UNITS="MainPID=1\n", INFO=INFO)
    assert result.returncode == 127 and result.stdout == ""


def test_binaries_are_found_on_path_and_resolved_by_name(tmp_path):
    first, second = tmp_path / "first dir", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    real = tmp_path / "real-runc"
    real.write_text("#!/bin/sh\n")
    real.chmod(0o755)
    (first / "runc").symlink_to(real)
    for directory in (first, second):  # the first match on PATH wins, as with command -v
        (directory / "docker").write_text("#!/bin/sh\n")
        (directory / "docker").chmod(0o755)
    (second / "containerd").write_text("not executable\n")
    result = run_snippet("binaries", tmp_path, f"{first}:{second}:/usr/bin:/bin")
    found = dict(line.split("\t") for line in result.stdout.splitlines())
    assert found.get("docker") == str(first / "docker")
    assert found.get("runc") == str(real)
    assert "containerd" not in found or found["containerd"] != str(second / "containerd")
    assert set(found) <= set(AUDITED_BINARIES)


def test_containers_are_listed_only_when_docker_info_counted_some(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "docker").write_text('#!/bin/sh\necho "docker $*" >> "$LOG"\ncase $1 in ps) echo c1;; esac\n')
    (fake / "docker").chmod(0o755)
    log = tmp_path / "calls"
    # docker info counted no image here: the containers are inspected alone (with images too, see test_images_*)
    listed = "docker ps -aq --no-trunc\ndocker inspect --format C c1\n"
    for info, calls in ((INFO, ""), (INFO.replace('"Containers":0', '"Containers":2'), listed), ("", listed)):
        log.write_text("")
        env = {
            "PATH": f"{fake}:/usr/bin:/bin",
            "LOG": str(log),
            "INFO": str(tmp_path / "info"),
            "HANDOFF": str(tmp_path / "listed"),
            "REMEDIATE_CONTAINER_TEMPLATE": "C",
            "REMEDIATE_IMAGE_TEMPLATE": "I",
        }
        (tmp_path / "info").write_text(info)
        result = subprocess.run(
            ["/bin/sh", "-c", SNIPPETS["containers"]], env=env, capture_output=True, text=True, check=False
        )
        assert (result.returncode, log.read_text()) == (0, calls)


def test_a_snippet_reads_an_earlier_steps_output_and_only_an_earlier_one():
    batch = Batch().add_command("first", ["echo", "MainPID=42"])
    batch.add_shell("second", 'sed -n "s/^MainPID=//p" "$FIRST"', inputs={"FIRST": "first"})
    assert run_batch(LocalConnection("t"), batch)["second"].stdout == b"42\n"
    with pytest.raises(ValueError, match="not an earlier step"):
        Batch().add_shell("x", "true", inputs={"LATER": "y"})
    with pytest.raises(ValueError, match="invalid environment variable name"):
        Batch().add_command("a", ["true"]).add_shell("x", "true", inputs={"1BAD": "a"})


def test_the_journal_is_read_only_when_docker_service_is_not_active(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "journalctl").write_text('#!/bin/sh\necho "journalctl $*"\n')
    (fake / "journalctl").chmod(0o755)
    path = f"{fake}:/usr/bin:/bin"
    # the service's block comes first; a later unit's ActiveState=active must not count
    active = run_snippet("journal", tmp_path, path, UNITS="MainPID=9\nActiveState=active\n\nActiveState=failed\n")
    assert (active.returncode, active.stdout) == (0, "")
    failed = run_snippet("journal", tmp_path, path, UNITS="MainPID=0\nActiveState=failed\n\nActiveState=active\n")
    assert failed.stdout == "journalctl -u docker.service -n 40 --no-pager -o cat\n"


def _fake_docker_info(tmp_path, stdout: str, rc: int = 0) -> dict[str, str]:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "docker").write_text(f'#!/bin/sh\ncat "$INFO_OUT"\nexit {rc}\n')
    (fake / "docker").chmod(0o755)
    (tmp_path / "out").write_text(stdout)
    return {"PATH": f"{fake}:/usr/bin:/bin", "INFO_OUT": str(tmp_path / "out")}


def test_a_swarm_managers_root_certificate_never_leaves_the_host_in_docker_info(tmp_path):
    """docker info on a swarm manager carries the cluster's root CA certificate (Swarm.Cluster.TLSInfo.TrustRoot,
    captured on 28.5): certificates are only ever stat-ed, so the probe blanks it on the host."""
    info = json.loads(
        json.loads((FIXTURES / "engines" / "swarm-28.5.json").read_text())["commands"]["docker_info"]["stdout"]
    )
    # the fixture was captured through this probe: put back the kind of value dockerd printed there
    info["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"] = (
        "-----BEGIN CERTIFICATE-----\nMIIBajCCARCgAwIBAgIU\n-----END CERTIFICATE-----\n"
    )
    captured = json.dumps(info, separators=(",", ":")) + "\n"
    env = _fake_docker_info(tmp_path, captured)
    result = subprocess.run(
        ["/bin/sh", "-c", SNIPPETS["docker_info"]], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "CERTIFICATE" not in result.stdout
    info = parse.docker_info(CommandFact(0, result.stdout))
    assert info["Swarm"]["Cluster"]["TLSInfo"]["TrustRoot"] == "(not read: a certificate)"
    assert {k: v for k, v in info.items() if k != "Swarm"} == {
        k: v for k, v in json.loads(captured).items() if k != "Swarm"
    }


def test_docker_info_keeps_its_exit_code_and_output_when_dockerd_is_down(tmp_path):
    down = '{"ID":"","Containers":0,"Swarm":{"LocalNodeState":""}}\n'
    env = _fake_docker_info(tmp_path, down, rc=1)
    result = subprocess.run(
        ["/bin/sh", "-c", SNIPPETS["docker_info"]], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (1, down)
