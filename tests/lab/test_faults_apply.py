"""Faults that hit the apply engine and the transport (issue 7: faults 2, 3, 4, 5, 6, 8, 9 and 12).

A connection cut during the write or between the write and the restart, a host whose PID 1 dies mid-batch,
a full or read-only filesystem, an unwritable backups directory, a stale lock, Ctrl-C during a rollout, and
refused logins: every case asserts the bytes, owner and mode of every path harden may touch, dockerd's state
and the reported outcome.

Runs that must be cut at an exact moment are `invoke harden` subprocesses (so their controller process is
gone afterwards, as after a real failed run) with REMEDIATE_TEST_PAUSE set: the transaction script then stops
at that point until the test removes the marker file it leaves (templates/apply/transaction.sh, test hook).
Faults are injected through the lab's own back door (nsenter), never over SSH, so the only SSH session on the
host is the run's. The `pristine` fixture puts each host back as seeded (and boots a killed one again).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from remediate import app
from remediate.apply.engine import apply_host
from remediate.apply.protocol import PAUSE_ENV
from remediate.lab.host import host_exec
from remediate.lab.proc import ProcessRef, children
from remediate.process import start_time
from remediate.results import new_run_id
from remediate.runner import run_fleet
from tests.lab.test_harden import _plan_for, _without_runs, harden, snapshot, target

REPO = Path(__file__).resolve().parents[2]
RUNS = "/var/lib/remediate/runs"
HOSTS = ("stock", "stock-01", "stock-02", "stock-03")
# Put a host back as seeded: whatever a case mounted, then every file harden writes; dockerd restarts only if
# it ran with another configuration (or is not running).
RESET = r"""
rm -f /var/lib/remediate/runs/*/paused
if read -r pid start </var/lib/remediate/lock/busy 2>/dev/null; then
    n=0; while [ -e "/proc/$pid" ] && [ $n -lt 900 ]; do sleep 0.2; n=$((n + 1)); done
fi
for m in /etc/docker /etc /var/lib/remediate; do
    while mountpoint -q "$m"; do umount -l "$m"; done
done
restart=no
[ -e /etc/docker/daemon.json ] && restart=yes
rm -rf /etc/docker/daemon.json /etc/docker/.filler /etc/audit /var/lib/remediate
find /etc -name '.*.remediate-*' -delete
systemctl daemon-reload
if [ $restart = yes ] || ! systemctl is-active --quiet docker.service; then
    systemctl reset-failed docker.service docker.socket
    systemctl restart docker.socket docker.service
fi
"""


def host_sh(lab, name: str, script: str, *args: str, check: bool = True) -> str:
    """A shell script as root inside the host, through the lab's back door (no SSH session)."""
    host = lab.lab.hosts()[name]
    result = host_exec(host, ["sh", "-c", script, "sh", *args], check=check)
    return result.stdout.decode()


def state(lab, name: str) -> list[str]:
    """Bytes, owner, mode and mtime of every path harden may touch, harden's own run records aside."""
    return _without_runs(snapshot(lab, name))


def docker(lab, name: str) -> str:
    return host_sh(lab, name, "systemctl is-active docker.service", check=False).strip()


def wait_for(what: str, probe, timeout: float = 150.0):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)
    return value


def newest_run(lab, name: str) -> str:
    return host_sh(lab, name, f"ls {RUNS} 2>/dev/null | sort | tail -n 1").strip()


def run_state(lab, name: str) -> str:
    return host_sh(lab, name, f'cat "{RUNS}/$1/state" 2>/dev/null', newest_run(lab, name), check=False).strip()


def wait_paused(lab, name: str, proc: subprocess.Popen) -> str:
    """The run id, once the host's script stands at its pause point (the run must still be going)."""

    def paused():
        if proc.poll() is not None:
            pytest.fail(f"harden ended (exit {proc.returncode}) before {name} paused:\n{output(proc)}")
        return host_sh(
            lab, name, f'for m in {RUNS}/*/paused; do [ -e "$m" ] && basename "$(dirname "$m")"; done; true'
        ).strip()

    return wait_for(f"{name} to pause", paused)


def release(lab, name: str) -> None:
    host_sh(lab, name, f"rm -f {RUNS}/*/paused")


VERSION = (
    r'if [ -e "$1" ]; then echo "$(sha256sum <"$1" | cut -d" " -f1) $(stat -c "%a %U %G" "$1")"; else echo absent; fi'
)


def versions(lab, name: str) -> dict[str, str]:
    """Each path of the host's newest run: 'old' or 'new' (bytes, mode and owner as a whole), else what it is."""
    doc = json.loads(host_sh(lab, name, f'cat "{RUNS}/$1/manifest.json"', newest_run(lab, name)))
    out = {}
    for e in doc["entries"]:
        now = host_sh(lab, name, VERSION, e["path"]).strip()
        old = (
            "absent"
            if e["before_sha256"] == "absent"
            else (f"{e['before_sha256']} {e['before_mode']} {e['before_owner']} {e['before_group']}")
        )
        new = f"{e['after_sha256']} {e['mode']} {e['owner']} {e['group']}"
        out[e["path"]] = "old" if now == old else "new" if now == new else f"neither: {now}"
    return out


def start_harden(lab, hosts: str, tmp_path: Path, *args: str, pause: str | None = None) -> subprocess.Popen:
    """`invoke harden --yes` in a process (and session) of its own, its results document in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
    if pause:
        env[PAUSE_ENV] = pause
    env["PYTHONUNBUFFERED"] = "1"
    stem = tmp_path / f"harden-{time.monotonic_ns()}"
    argv = [
        sys.executable,
        "-m",
        "invoke",
        "harden",
        "--inventory",
        str(lab.inventory_path),
        "--hosts",
        hosts,
        "--yes",
        "--json",
        f"{stem}.json",
        *args,
    ]
    with open(f"{stem}.out", "w") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc.stem = stem
    return proc


def output(proc: subprocess.Popen) -> str:
    return Path(f"{proc.stem}.out").read_text()


def finished(proc: subprocess.Popen) -> tuple[int, str, dict]:
    """Exit code, output and hosts (by name) of a harden subprocess."""
    proc.wait(timeout=300)
    doc = json.loads(Path(f"{proc.stem}.json").read_text())
    return proc.returncode, output(proc), {h["host"]: h for h in doc["hosts"]}


def subtree(pid: int) -> list[int]:
    return [pid] + [p for child in children(pid) for p in subtree(child)]


def cut_forwarder(lab, name: str) -> int:
    """Cut every connection the lab's forwarder to the host carries (the listener stays): how many."""
    forwarder = lab.lab.hosts()[name].forwarder
    assert forwarder.alive()
    connections = children(forwarder.pid)
    refs = [
        ProcessRef(pid, start)
        for child in connections
        for pid in subtree(child)
        if (start := start_time(pid)) is not None
    ]
    for ref in refs:
        ref.kill()
    return len(connections)


def kill_sshd_sessions(lab, name: str) -> int:
    """Kill the host's sshd processes that serve a connection (not the listener): how many."""
    pids = host_sh(
        lab,
        name,
        r"ss -Htnp state established '( sport = :22 )' | grep -o 'pid=[0-9]*' | cut -d= -f2 "
        r"| sort -u",
    ).split()
    host_sh(lab, name, 'kill -KILL "$@"', *pids)
    return len(pids)


# --- 2. the SSH connection cut between the write and the restart, and during the write --------------------------


@pytest.mark.engines
def test_connection_cut_between_write_and_restart_the_host_finishes_alone(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-01"
    proc = start_harden(lab, name, tmp_path, pause="renamed")
    run = wait_paused(lab, name, proc)
    assert set(versions(lab, name).values()) == {"new"} and run_state(lab, name) == "committed"
    assert cut_forwarder(lab, name) >= 1
    code, _out, hosts = finished(proc)
    result = hosts[name]["apply"]
    assert code == app.EXIT_ERROR and result["outcome"] == "failed", result
    assert "connection was lost during the commit" in result["error"] and "invoke unlock" in result["error"]
    # Its controller is gone, but the host is still in the middle of the commit: the lock is not stale yet.
    assert app.unlock(target(lab, name)) == app.EXIT_ERROR
    release(lab, name)
    wait_for("the host to finish the commit alone", lambda: run_state(lab, name) == "applied")
    assert set(versions(lab, name).values()) == {"new"} and docker(lab, name) == "active"
    assert "leftover" not in snapshot(lab, name)
    # The next run has nothing left to change but reports who holds the lock; unlock sees that run's controller
    # is gone and nothing of it runs on the host any more; then the host has converged.
    code, hosts = harden(lab, name, tmp_path, yes=True)
    assert hosts[name]["plan"]["empty"] and f"run {run} by " in hosts[name]["lock"]
    assert f"pid {proc.pid} " in hosts[name]["lock"]
    assert app.unlock(target(lab, name)) == app.EXIT_OK
    code, hosts = harden(lab, name, tmp_path, yes=True)
    assert code == app.EXIT_OK and hosts[name]["plan"]["empty"] and hosts[name]["lock"] is None


def test_connection_cut_during_the_write_leaves_each_file_old_or_new(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-01"
    proc = start_harden(lab, name, tmp_path, pause="renamed-first")
    wait_paused(lab, name, proc)
    assert sorted(versions(lab, name).values()) == ["new", "old"]  # one file in place, the other still staged
    assert kill_sshd_sessions(lab, name) >= 1
    code, _out, hosts = finished(proc)
    assert code == app.EXIT_ERROR and hosts[name]["apply"]["outcome"] == "failed"
    assert "connection was lost during the commit" in hosts[name]["apply"]["error"]
    assert sorted(versions(lab, name).values()) == ["new", "old"]
    release(lab, name)
    wait_for("the host to finish the commit alone", lambda: run_state(lab, name) == "applied")
    assert set(versions(lab, name).values()) == {"new"} and docker(lab, name) == "active"
    assert "leftover" not in snapshot(lab, name)
    assert app.unlock(target(lab, name)) == app.EXIT_OK
    code, hosts = harden(lab, name, tmp_path, yes=True)
    assert code == app.EXIT_OK and hosts[name]["plan"]["empty"] and hosts[name]["lock"] is None


def test_connection_cut_while_staging_changes_nothing_and_unlock_removes_the_staged_files(
    faults_lab, pristine, tmp_path, capsys
):
    lab, name = faults_lab, "stock-01"
    proc = start_harden(lab, name, tmp_path, pause="staged")
    wait_paused(lab, name, proc)
    staged = host_sh(lab, name, "find /etc -name '.*.remediate-*' | sort").split()
    # temp names are unpredictable (mktemp), recorded in the run: .NAME.remediate-XXXXXXXXXX
    assert len(staged) == 2 and all(re.fullmatch(r".*/\.[^/]+\.remediate-[A-Za-z0-9]{10}", p) for p in staged)
    assert cut_forwarder(lab, name) >= 1
    code, _out, hosts = finished(proc)
    result = hosts[name]["apply"]
    assert code == app.EXIT_ERROR and result["outcome"] == "failed", result
    assert "before the commit" in result["error"] and "nothing changed" in result["error"]
    release(lab, name)
    wait_for("the host to finish preparing alone", lambda: run_state(lab, name) == "prepared")
    assert set(versions(lab, name).values()) == {"old"} and docker(lab, name) == "active"
    assert host_sh(lab, name, "find /etc -name '.*.remediate-*' | sort").split() == staged
    # The run never committed and its controller is gone: unlock clears the lock and what the run staged.
    capsys.readouterr()
    assert app.unlock(target(lab, name)) == app.EXIT_OK
    cleared = capsys.readouterr().out
    assert "never committed" in cleared and all(path in cleared for path in staged)
    assert state(lab, name) == pristine[name] and host_sh(lab, name, f"ls {RUNS}").strip() == ""


# --- 6. a stale lock from a killed run ------------------------------------------------------------------------------


def test_the_lock_of_a_killed_run_is_stale_once_the_host_is_done_and_unlock_cleans_up_after_it(
    faults_lab, pristine, tmp_path, capsys
):
    lab, name = faults_lab, "stock-01"
    proc = start_harden(lab, name, tmp_path, pause="staged")
    run = wait_paused(lab, name, proc)
    assert app.unlock(target(lab, name)) == app.EXIT_ERROR  # its controller is alive
    proc.kill()  # SIGKILL: no finally, no unlock
    proc.wait()
    assert app.unlock(target(lab, name)) == app.EXIT_ERROR  # the host is still preparing that run
    assert "still running on the host" in capsys.readouterr().out
    release(lab, name)
    wait_for("the host to finish preparing alone", lambda: run_state(lab, name) == "prepared")
    code, hosts = harden(lab, name, tmp_path, yes=True)
    assert hosts[name]["apply"]["outcome"] == "refused" and f"run {run} by " in hosts[name]["apply"]["error"]
    assert f"pid {proc.pid} " in hosts[name]["lock"]
    capsys.readouterr()
    assert app.unlock(target(lab, name)) == app.EXIT_OK
    cleared = capsys.readouterr().out
    assert "controller process on this machine is gone" in cleared and "removed its staged files" in cleared
    assert state(lab, name) == pristine[name] and docker(lab, name) == "active"
    code, hosts = harden(lab, name, tmp_path, yes=True)
    assert code == app.EXIT_OK and hosts[name]["apply"]["outcome"] == "changed"


# --- 3. the host dies mid-batch ------------------------------------------------------------------------------------


def test_a_host_that_dies_mid_batch_is_reported_the_others_finish_and_max_fail_stops_the_rest(
    faults_lab, pristine, tmp_path
):
    lab = faults_lab
    proc = start_harden(
        lab, "stock-01,stock-02,stock-03", tmp_path, "--batch-size", "2", "--max-fail", "1", pause="renamed"
    )
    wait_paused(lab, "stock-01", proc)
    wait_paused(lab, "stock-02", proc)
    dying = lab.lab.hosts()["stock-02"].init
    dying.kill()  # the host's PID 1: its whole PID namespace, sshd and the transaction with it, goes
    assert dying.wait_gone()
    release(lab, "stock-01")
    code, out, hosts = finished(proc)
    outcomes = {name: (hosts[name]["apply"] or {}).get("outcome") for name in hosts}
    assert outcomes == {"stock-01": "changed", "stock-02": "failed", "stock-03": "skipped"}, outcomes
    assert "connection was lost" in hosts["stock-02"]["apply"]["error"]
    assert "max-fail 1" in hosts["stock-03"]["apply"]["error"] and "max-fail 1" in out
    assert code == app.EXIT_ERROR
    assert set(versions(lab, "stock-01").values()) == {"new"} and docker(lab, "stock-01") == "active"
    assert state(lab, "stock-03") == pristine["stock-03"] and docker(lab, "stock-03") == "active"


# --- 8. Ctrl-C during a rollout ------------------------------------------------------------------------------------


def test_ctrl_c_lets_the_host_in_flight_finish_skips_the_rest_and_prints_the_recap(faults_lab, pristine, tmp_path):
    lab = faults_lab
    proc = start_harden(lab, "stock-01,stock-02,stock-03", tmp_path, "--batch-size", "1", pause="renamed")
    wait_paused(lab, "stock-01", proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends: its whole process group
    wait_for("harden to take the interrupt", lambda: "interrupted: finishing the hosts in flight" in output(proc))
    release(lab, "stock-01")
    code, out, hosts = finished(proc)
    assert code == app.EXIT_ERROR
    assert hosts["stock-01"]["apply"]["outcome"] == "changed", hosts["stock-01"]["apply"]
    for name in ("stock-02", "stock-03"):
        assert hosts[name]["apply"]["outcome"] == "skipped" and "interrupted" in hosts[name]["apply"]["error"]
        assert state(lab, name) == pristine[name] and docker(lab, name) == "active"
    recap = out[out.index("host ") :]
    assert "changed" in recap and recap.count("skipped") == 2 and "stopped: interrupted (Ctrl-C)" in recap
    assert set(versions(lab, "stock-01").values()) == {"new"} and docker(lab, "stock-01") == "active"


# --- 4. no space left under /etc/docker, 5. read-only /etc, 12. backups directory unwritable ---------------------

FULL_ETC_DOCKER = r"""
mkdir /run/etc-docker && cp -a /etc/docker/. /run/etc-docker/
mount -t tmpfs -o size=64k,mode=0755 remediate-full /etc/docker
cp -a /run/etc-docker/. /etc/docker/ && rm -rf /run/etc-docker
dd if=/dev/zero of=/etc/docker/.filler bs=4k 2>/dev/null
[ "$(stat -f -c %a /etc/docker)" = 0 ]
"""


def test_no_space_under_etc_docker_is_a_clear_error_that_changes_nothing(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-02"
    host_sh(lab, name, FULL_ETC_DOCKER)
    before = snapshot(lab, name, dir_mtimes=False)
    code, hosts = harden(lab, name, tmp_path, yes=True)
    result = hosts[name]["apply"]
    assert code == app.EXIT_ERROR and result["outcome"] == "failed", result
    assert result["error"].startswith("nothing changed: ") and "No space left on device" in result["error"]
    assert "/etc/docker/.daemon.json.remediate-" in result["error"]
    assert _without_runs(snapshot(lab, name)) == _without_runs(before) and docker(lab, name) == "active"
    assert host_sh(lab, name, "find /etc -name '.*.remediate-*'") == ""  # the tmpfs too (no -xdev here)
    assert host_sh(lab, name, f"ls /var/lib/remediate; ls {RUNS}").split() == ["runs"]  # unlocked, no run left


def test_a_read_only_etc_is_a_clear_error_in_the_plan_and_at_apply_and_changes_nothing(faults_lab, pristine, tmp_path):
    lab, name = faults_lab, "stock-02"
    t = target(lab, name)
    inventory, hosts = t.resolve()
    planned = run_fleet(hosts, _plan_for, t.connect_options(), resolve_host=inventory.hosts.get)[0].value
    host_sh(lab, name, "mount --bind /etc /etc && mount -o remount,bind,ro /etc")
    before = state(lab, name)
    code, result = harden(lab, name, tmp_path, yes=True)
    assert code == app.EXIT_ERROR and result[name]["apply"] is None  # not even started
    invalid = [s["detail"] for s in result[name]["validation"]["steps"] if not s["ok"]]
    assert invalid and all("is not writable (a read-only filesystem?)" in d for d in invalid), invalid
    # The same when /etc turns read-only between the plan and the apply: validation runs again first.
    facts, policy, plan = planned
    applied = run_fleet(
        hosts,
        lambda conn, host: apply_host(
            conn, facts, plan, policy, run_id=new_run_id(), become=False, groups=tuple(host.groups)
        ),
        t.connect_options(),
        resolve_host=inventory.hosts.get,
    )[0].value
    assert applied.outcome == "failed" and applied.error.startswith("validation failed, nothing changed: ")
    assert "read-only" in applied.error
    assert state(lab, name) == before and docker(lab, name) == "active"
    assert host_sh(lab, name, "find /etc -name '.*.remediate-*'") == ""


UNWRITABLE_BACKUPS = {
    "a-file": "rm -rf /var/lib/remediate && echo 'not a directory' >/var/lib/remediate",
    "read-only": "mkdir -p /var/lib/remediate && mount --bind /var/lib/remediate /var/lib/remediate "
    "&& mount -o remount,bind,ro /var/lib/remediate",
    "immutable": "mkdir -p -m 0700 /var/lib/remediate && chattr +i /var/lib/remediate",
}


@pytest.mark.parametrize("how", list(UNWRITABLE_BACKUPS))
def test_an_unwritable_backups_directory_refuses_before_touching_anything(faults_lab, pristine, tmp_path, how):
    lab, name = faults_lab, "stock-02"
    host_sh(lab, name, UNWRITABLE_BACKUPS[how])
    try:
        before = snapshot(lab, name, dir_mtimes=True)
        code, hosts = harden(lab, name, tmp_path, yes=True)
        result = hosts[name]["apply"]
        assert code == app.EXIT_ERROR and result["outcome"] == "failed", result
        assert "the backups directory /var/lib/remediate cannot be used, nothing changed" in result["error"]
        assert snapshot(lab, name, dir_mtimes=True) == before and docker(lab, name) == "active"
    finally:
        host_sh(lab, name, "chattr -i /var/lib/remediate 2>/dev/null; true")


# --- 9. refused logins: wrong sudo password, unknown key, changed host key ----------------------------------------


def inventory_with(lab, tmp_path, host: str, **host_vars) -> Path:
    """The lab inventory with some of one host's variables changed."""
    data = yaml.safe_load(lab.inventory_path.read_text())

    def visit(group):
        if host in (group.get("hosts") or {}):
            group["hosts"][host].update(host_vars)
        for child in (group.get("children") or {}).values():
            visit(child)

    visit(data["all"])
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def forged_known_hosts(lab, tmp_path, host: str, key_of: str) -> str:
    hosts = lab.lab.hosts()
    path = tmp_path / "known_hosts"
    path.write_text(f"[127.0.0.1]:{hosts[host].port} {hosts[key_of].host_key}\n")
    return str(path)


REFUSED_LOGINS = {
    "wrong-sudo-password": (
        "stock-ops",
        lambda lab, tmp: {"ansible_become_password": "wrong-" + lab.ops_password},
        "failed",
        "incorrect sudo password",
    ),
    "unknown-host-key": (
        "stock-02",
        lambda lab, tmp: {"remediate_known_hosts": str(tmp / "empty")},
        "unreachable",
        "unknown",
    ),
    "changed-host-key": (
        "stock-02",
        lambda lab, tmp: {"remediate_known_hosts": forged_known_hosts(lab, tmp, "stock-02", key_of="stock-03")},
        "unreachable",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
    ),
    "unknown-private-key": (
        "stock-02",
        lambda lab, tmp: {"ansible_ssh_private_key_file": str(tmp / "other_key")},
        "unreachable",
        "refused every key",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_LOGINS))
def test_a_refused_login_or_sudo_stops_harden_before_anything_runs(faults_lab, pristine, tmp_path, case):
    lab = faults_lab
    host, host_vars, status, message = REFUSED_LOGINS[case]
    (tmp_path / "empty").write_text("")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other_key")], check=True)
    inventory = inventory_with(lab, tmp_path, host, **host_vars(lab, tmp_path))
    seen = lab.lab.hosts()[host.removesuffix("-ops")]
    sessions_before = host_sh(lab, seen.name, "journalctl -u ssh -o cat | grep -c 'Accepted publickey'; true")
    code, hosts = harden(lab, host, tmp_path, inventory=inventory, yes=True)
    entry = hosts[host]
    assert entry["status"] == status and message in entry["error"], entry
    assert "apply" not in entry and code == (app.EXIT_UNREACHABLE if status == "unreachable" else app.EXIT_ERROR)
    # Refused at once: a refused login never opens a session; a refused sudo stops at the first command.
    assert entry["round_trips"] == (1 if status == "failed" else 0)
    logins = host_sh(lab, seen.name, "journalctl -u ssh -o cat | grep -c 'Accepted publickey'; true")
    assert int(logins) - int(sessions_before) == (1 if status == "failed" else 0)
    assert "wrong-" not in entry["error"] and lab.ops_password not in entry["error"]
