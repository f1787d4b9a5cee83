"""`invoke harden` against real hosts: dry-run changes nothing, apply hardens and verifies, a second
run changes nothing, failures roll back to the exact bytes, `rollback` restores the earlier state,
and two runs on one host never interleave.

These tests change their hosts, so they get a lab of their own (harden_lab) and run in file order:
dry-run, apply, second run, rollback, then the failure cases on the restored hosts.
"""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from remediate import app
from remediate.apply.engine import ApplyOptions, apply_host
from remediate.apply.protocol import Transaction
from remediate.apply.rollback import lock_state
from remediate.facts.gather import gather
from remediate.harden import HardenOptions
from remediate.plan import plan_host
from remediate.plan.daemon_json import KEY_CHECKS
from remediate.policy import policy_for
from remediate.results import new_run_id
from remediate.runner import run_fleet

SCENARIOS = [
    "stock",
    "tcp-daemon-json",
    "tcp-docker-opts",
    "tcp-socket-unit",
    "tcp-mutual-tls",
    "loose-perms",
    "risky-containers",
    "custom-settings",
    "docker-ce",
    "swarm",
    "hardened",
    "broken-json",
]
# Every path harden may touch, with content hash, mode, owner and mtime: "exactly as it was" means this.
# key.json is dockerd's own identity file, written by dockerd at its first start, not by harden.
SNAPSHOT = r"""
for p in /etc/docker /etc/default/docker /etc/systemd/system/docker.service.d /etc/systemd/system/docker.socket.d \
         /etc/audit /etc/subuid /etc/subgid /var/lib/remediate; do
    [ -e "$p" ] || { echo "absent $p"; continue; }
    find "$p" -type d -printf "%y %m %u %g $DIRTIME %p\n" | sort -k6
    find "$p" ! -type d ! -name key.json -printf '%y %m %u %g %T@ %p\n' | sort -k6
    find "$p" -type f ! -name key.json -exec sha256sum {} + | sort -k2
done
find / -xdev -name '.*.remediate-*' 2>/dev/null | sed 's/^/leftover /'
"""


def ssh(lab, host: str, script: str) -> str:
    result = subprocess.run(lab.lab.ssh_argv(host, [script]), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{host}: {result.stderr}"
    return result.stdout


def snapshot(lab, host: str, dir_mtimes: bool = False) -> str:
    """Directory mtimes too only when nothing may be written at all (a restore cannot undo a dir's mtime)."""
    return ssh(lab, host, ("DIRTIME=%T@" if dir_mtimes else "DIRTIME=-") + "\n" + SNAPSHOT)


def target(lab, hosts: str, inventory=None) -> app.Target:
    return app.Target(hosts=hosts, inventory=str(inventory or lab.inventory_path), known_hosts=[])


def harden(lab, hosts: str, tmp_path, inventory=None, **options) -> tuple[int, dict]:
    out = tmp_path / f"harden-{new_run_id()}.json"
    code = app.harden(target(lab, hosts, inventory), HardenOptions(**options), json_path=out)
    doc = json.loads(out.read_text())
    return code, {h["host"]: h for h in doc["hosts"]}


def inventory_with_policy(lab, tmp_path, daemon: dict):
    """The lab inventory with extra daemon.json settings in the lab group's policy."""
    import yaml

    data = yaml.safe_load(lab.inventory_path.read_text())
    data["all"]["vars"]["remediate_policy"]["daemon"].update(daemon)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def before(harden_lab):
    return {h: snapshot(harden_lab, h) for h in SCENARIOS}


@pytest.mark.engines
def test_dry_run_shows_each_scenario_and_changes_nothing(harden_lab, before, tmp_path):
    exact = {name: snapshot(harden_lab, name, dir_mtimes=True) for name in SCENARIOS}
    code, hosts = harden(harden_lab, "lab", tmp_path, dry_run=True)
    assert code == app.EXIT_ERROR  # broken-json is refused: an error a person must look at
    for name in SCENARIOS:
        assert snapshot(harden_lab, name, dir_mtimes=True) == exact[name], f"dry-run changed {name}"
        assert hosts[name]["round_trips"] <= 3

    def diff(host, path):
        change = next(c for c in hosts[host]["plan"]["changes"] if c["path"] == path)
        return change["diff"]

    assert '-    "tcp://0.0.0.0:2375"' in diff("tcp-daemon-json", "/etc/docker/daemon.json")
    opts = diff("tcp-docker-opts", "/etc/default/docker").splitlines()
    assert any(line.startswith("-") and "tcp://0.0.0.0:2375" in line for line in opts)
    assert not any(line.startswith("+") and "tcp://" in line for line in opts)
    socket_dropin = next(
        c
        for c in hosts["tcp-socket-unit"]["plan"]["changes"]
        if c["path"].startswith("/etc/systemd/system/docker.socket.d/")
    )
    assert "ListenStream=\n" in socket_dropin["after"] and "2375" not in socket_dropin["after"]
    loose = {c["path"]: c for c in hosts["loose-perms"]["plan"]["changes"]}
    assert loose["/etc/docker"]["mode"] == "0755" and loose["/etc/docker"]["old_mode"] == "0777"
    risky = hosts["risky-containers"]["plan"]
    assert [h["what"] for h in risky["held_back"]] == ["userns-remap"]
    assert any("hide" in h["reason"] for h in risky["held_back"])
    assert risky["actions"][0]["kind"] == "reload-docker"  # live-restore first, so containers survive
    assert hosts["hardened"]["plan"]["empty"]
    assert "daemon.json:3:1" in hosts["broken-json"]["plan"]["refused"]
    assert all(s["ok"] for h in SCENARIOS if h != "broken-json" for s in hosts[h]["validation"]["steps"])


# Everything a dry run could possibly touch: every file, link and directory under /etc and /var/lib/remediate
# (kind, mode, owner, mtime, size, and the bytes of /etc's files) and the top of /var/lib/docker, where a
# userns-remap store would appear.
EVERYTHING = r"""
find /etc /var/lib/remediate -xdev -printf '%y %m %u %g %T@ %s %p\n' 2>/dev/null | sort -k7
find /var/lib/docker -maxdepth 1 -printf '%y %m %u %g %T@ %p\n' | sort -k6
find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | sort -k2
"""


@pytest.mark.engines
def test_a_dry_run_with_every_risk_accepted_writes_nothing_at_all(harden_lab, before, tmp_path):
    """On every engine: dockerd 23+'s `--validate` with userns-remap "default" created the dockremap user and
    appended id ranges to /etc/subuid and /etc/subgid (issue 13); the dry run's validation must not."""
    every_risk = frozenset(policy_for({}, None).hold_back)
    assert "userns-remap" in every_risk
    exact = {name: ssh(harden_lab, name, EVERYTHING) for name in SCENARIOS}
    _code, hosts = harden(harden_lab, "lab", tmp_path, dry_run=True, accept_risk=every_risk)
    for name in SCENARIOS:
        assert ssh(harden_lab, name, EVERYTHING) == exact[name], f"the dry run wrote to {name}"
    stock = hosts["stock"]
    changes = {c["path"]: c for c in stock["plan"]["changes"]}
    assert json.loads(changes["/etc/docker/daemon.json"]["after"])["userns-remap"] == "default"
    assert all(s["ok"] for s in stock["validation"]["steps"]), stock["validation"]
    names = [s["name"] for s in stock["validation"]["steps"]]
    if "dockerd-validate" in names:  # dockerd 23+: the real validation ran, without the key it would act on
        assert "remediate" in names, stock["validation"]


@pytest.mark.engines
def test_apply_hardens_and_verifies_every_scenario(harden_lab, before, tmp_path):
    running_before = ssh(harden_lab, "risky-containers", "docker ps -q --no-trunc | sort")
    code, hosts = harden(harden_lab, "lab", tmp_path, yes=True)
    outcomes = {h: hosts[h]["apply"] and hosts[h]["apply"]["outcome"] for h in SCENARIOS}
    assert outcomes == {**dict.fromkeys(SCENARIOS, "changed"), "hardened": None, "broken-json": None}, outcomes
    assert code == app.EXIT_ERROR  # broken-json still refused
    assert snapshot(harden_lab, "broken-json") == before["broken-json"]
    for name in SCENARIOS[:-2]:
        steps = {s["step"]: s for s in hosts[name]["apply"]["steps"]}
        assert steps["verify"]["ok"] and steps["container"]["ok"], (name, steps)
        assert ssh(harden_lab, name, "systemctl is-active docker").strip() == "active"
        assert ssh(harden_lab, name, "ss -Hltn 'sport = :2375'").strip() == "", name
    # Containers kept running: live-restore was switched on by SIGHUP before the restart.
    assert ssh(harden_lab, "risky-containers", "docker ps -q --no-trunc | sort") == running_before
    custom = json.loads(ssh(harden_lab, "custom-settings", "cat /etc/docker/daemon.json"))
    original = json.loads(seeded_daemon_json(harden_lab, "custom-settings"))
    for key in ("registry-mirrors", "log-driver", "log-opts", "default-address-pools"):
        assert custom[key] == original[key], key
    assert "debug" not in custom and "insecure-registries" not in custom


def seeded_daemon_json(lab, host: str) -> str:
    """The scenario's daemon.json as seeded, from the run's own backup copy."""
    run = ssh(lab, host, "ls /var/lib/remediate/runs | sort | tail -n 1").strip()
    index = json.loads(ssh(lab, host, f"cat /var/lib/remediate/runs/{run}/manifest.json"))
    entry = next(e for e in index["entries"] if e["path"] == "/etc/docker/daemon.json")
    return ssh(lab, host, f"cat /var/lib/remediate/runs/{run}/files/{entry['index']}")


@pytest.mark.engines
def test_second_run_plans_nothing(harden_lab, tmp_path):
    _code, hosts = harden(harden_lab, "lab", tmp_path, dry_run=True)
    for name in SCENARIOS[:-1]:
        assert hosts[name]["plan"]["empty"], (name, [c["path"] for c in hosts[name]["plan"]["changes"]])
    assert hosts["broken-json"]["plan"]["refused"]


@pytest.mark.engines
def test_after_harden_only_what_the_plan_names_still_fails(harden_lab, tmp_path):
    """Harden leaves nothing it could fix safely: after the apply above, a re-audit fails only fixable checks
    the plan lists as still failing, each under a held-back entry with its reason (userns-remap by the default
    policy; live-restore on a swarm node)."""
    _, outcomes = app.run_audit(target(harden_lab, "lab"), app.AuditOptions(json_path=tmp_path / "audit.json"))
    _code, hosts = harden(harden_lab, "lab", tmp_path, dry_run=True)
    for o in outcomes:
        if o.host not in SCENARIOS or o.host == "broken-json":
            continue
        failing = {r.check.id for r in o.value.results if r.status == "fail" and r.check.fixable}
        plan = hosts[o.host]["plan"]
        named = {c for h in plan["held_back"] for c in KEY_CHECKS.get(h["what"], ())}
        assert failing == set(plan["still_failing"]) <= named, (o.host, sorted(failing), plan["held_back"])


@pytest.mark.engines
def test_rollback_restores_the_exact_earlier_state(harden_lab, before):
    code = app.rollback(target(harden_lab, "lab"), None)
    assert code == app.EXIT_OK
    for name in SCENARIOS:
        now = snapshot(harden_lab, name)
        kept = [line for line in now.splitlines() if "/var/lib/remediate" not in line]
        assert kept == [line for line in before[name].splitlines() if "/var/lib/remediate" not in line], name
    assert ssh(harden_lab, "tcp-daemon-json", "ss -Hltn 'sport = :2375'").strip() != ""
    assert ssh(harden_lab, "stock", "systemctl is-active docker").strip() == "active"


@pytest.mark.engines
def test_dockerd_refusing_the_config_rolls_back(harden_lab, before, tmp_path):
    # data-root on a regular file: our model cannot know, dockerd refuses to start.
    inventory = inventory_with_policy(harden_lab, tmp_path, {"data-root": "/etc/hostname"})
    code, hosts = harden(harden_lab, "stock", tmp_path, inventory=inventory, yes=True)
    result = hosts["stock"]["apply"]
    assert result["outcome"] == "rolled-back" and code == app.EXIT_ERROR
    assert "/etc/hostname" in result["error"]
    assert _without_runs(snapshot(harden_lab, "stock")) == _without_runs(before["stock"])
    assert ssh(harden_lab, "stock", "systemctl is-active docker").strip() == "active"


@pytest.mark.engines
@pytest.mark.parametrize("host, user_there, carry", [("stock", False, False), ("docker-ce", True, True)])
def test_userns_remap_applies_runs_containers_converges_and_rolls_back(
    harden_lab, before, tmp_path, host, user_there, carry
):
    """Issue 13: refused on every 26.1 host before (dockerd --validate wrote /etc/subgid between plan and
    compare-and-swap), and never proven by a running container. harden adds dockremap (unless the host has it)
    and its ranges, carries the verify image into the remapped store, a container runs there; a second run has
    nothing to do; the rollback puts every byte back and removes the user only if it added it. With
    --carry-images a user's own image is in the remapped store too."""
    if user_there:
        ssh(harden_lab, host, "useradd --system --no-create-home --shell /bin/false dockremap")
    ssh(harden_lab, host, "docker tag busybox:latest ops/own-image:1")
    try:
        passwd = ssh(harden_lab, host, "cat /etc/passwd /etc/group")
        code, hosts = harden(
            harden_lab, host, tmp_path, yes=True, accept_risk=frozenset({"userns-remap"}), carry_images=carry
        )
        result = hosts[host]["apply"]
        assert result["outcome"] == "changed" and code == app.EXIT_OK, result
        kinds = [a["kind"] for a in hosts[host]["plan"]["actions"]]
        assert ("add-remap-user" in kinds) is not user_there, kinds
        steps = {s["step"]: s for s in result["steps"]}
        assert steps["container"]["ok"] and "started and exited 0" in steps["container"]["detail"], steps
        assert "name=userns" in ssh(harden_lab, host, "docker info --format '{{json .SecurityOptions}}'")
        assert ssh(harden_lab, host, "docker run --rm busybox true && echo ran").strip() == "ran"
        own = ssh(harden_lab, host, "docker image inspect ops/own-image:1 >/dev/null 2>&1 && echo here || echo gone")
        assert own.strip() == ("here" if carry else "gone")  # only --carry-images carries more than the verify image
        assert "dockremap:" in ssh(harden_lab, host, "getent passwd dockremap")
        code, hosts = harden(harden_lab, host, tmp_path, dry_run=True, accept_risk=frozenset({"userns-remap"}))
        assert hosts[host]["plan"]["empty"] and code == app.EXIT_OK, hosts[host]["plan"]
        assert app.rollback(target(harden_lab, host), None) == app.EXIT_OK
        assert _without_runs(snapshot(harden_lab, host)) == _without_runs(before[host])
        assert ssh(harden_lab, host, "cat /etc/passwd /etc/group") == passwd
        assert ssh(harden_lab, host, "systemctl is-active docker").strip() == "active"
        assert "name=userns" not in ssh(harden_lab, host, "docker info --format '{{json .SecurityOptions}}'")
    finally:
        if user_there:
            ssh(harden_lab, host, "userdel dockremap")
        ssh(harden_lab, host, "docker rmi ops/own-image:1 >/dev/null")


@pytest.mark.engines
def test_verification_failure_rolls_back(harden_lab, before, tmp_path):
    # dockerd starts, but containers cannot: the nofile hard limit is above what the host allows.
    inventory = inventory_with_policy(
        harden_lab, tmp_path, {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1048576, "Soft": 1048576}}}
    )
    _code, hosts = harden(harden_lab, "stock", tmp_path, inventory=inventory, yes=True)
    result = hosts["stock"]["apply"]
    assert result["outcome"] == "rolled-back", result
    assert "container" in result["error"]
    assert _without_runs(snapshot(harden_lab, "stock")) == _without_runs(before["stock"])


def test_canary_failure_stops_the_rollout(harden_lab, before, tmp_path):
    inventory = inventory_with_policy(
        harden_lab, tmp_path, {"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 1048576, "Soft": 1048576}}}
    )
    code, hosts = harden(
        harden_lab,
        "stock,tcp-docker-opts",
        tmp_path,
        inventory=inventory,
        yes=True,
        canary="tcp-docker-opts",
        max_fail=1,
    )
    assert code == app.EXIT_ERROR
    assert hosts["tcp-docker-opts"]["apply"]["outcome"] == "rolled-back"
    assert hosts["stock"]["apply"]["outcome"] == "skipped" and "max-fail" in hosts["stock"]["apply"]["error"]
    for name in ("stock", "tcp-docker-opts"):
        assert _without_runs(snapshot(harden_lab, name)) == _without_runs(before[name])


def test_declined_confirmation_changes_nothing(harden_lab, before, tmp_path):
    out = tmp_path / "declined.json"
    asked = []
    code = app.harden(
        target(harden_lab, "stock"),
        HardenOptions(),
        json_path=out,
        confirm=lambda question: asked.append(question) or False,
    )
    assert code == app.EXIT_ERROR and asked and "1 host" in asked[0]
    assert json.loads(out.read_text())["hosts"][0]["apply"] is None
    assert _without_runs(snapshot(harden_lab, "stock")) == _without_runs(before["stock"])


def test_repair_json_replaces_the_broken_file_and_rollback_brings_it_back(harden_lab, before, tmp_path):
    _code, hosts = harden(harden_lab, "broken-json", tmp_path, yes=True, repair_json=True)
    assert hosts["broken-json"]["apply"]["outcome"] == "changed", hosts["broken-json"]["apply"]
    assert ssh(harden_lab, "broken-json", "systemctl is-active docker").strip() == "active"
    json.loads(ssh(harden_lab, "broken-json", "cat /etc/docker/daemon.json"))
    copies = ssh(harden_lab, "broken-json", "ls /etc/docker").split()
    kept = next(name for name in copies if name.startswith("daemon.json.remediate-broken-"))
    original = seeded_daemon_json(harden_lab, "broken-json")
    assert ssh(harden_lab, "broken-json", f"cat /etc/docker/{kept}") == original
    assert app.rollback(target(harden_lab, "broken-json"), None) == app.EXIT_OK
    assert _without_runs(snapshot(harden_lab, "broken-json")) == _without_runs(before["broken-json"])
    assert ssh(harden_lab, "broken-json", "systemctl is-active docker || true").strip() == "failed"


def _without_runs(text: str) -> list[str]:
    return [line for line in text.splitlines() if "/var/lib/remediate" not in line]


def _plan_for(conn, host):
    facts = gather(conn)
    policy = policy_for(dict(host.vars))
    return facts, policy, plan_host(facts, policy, groups=tuple(host.groups))


def test_concurrent_runs_on_one_host_never_interleave(harden_lab):
    t = target(harden_lab, "stock")
    inventory, hosts = t.resolve()
    barrier = threading.Barrier(2)

    def work(conn, host):
        facts, policy, plan = _plan_for(conn, host)
        barrier.wait()
        return apply_host(
            conn,
            facts,
            plan,
            policy,
            run_id=new_run_id(),
            become=False,
            options=ApplyOptions(verify_image="busybox:latest"),
            groups=tuple(host.groups),
        )

    results = []
    threads = [
        threading.Thread(
            target=lambda: results.extend(run_fleet(hosts, work, t.connect_options(), resolve_host=inventory.hosts.get))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = sorted(r.value.outcome for r in results)
    assert outcomes == ["changed", "refused"], [(r.value.outcome, r.value.error) for r in results]
    refused = next(r.value for r in results if r.value.outcome == "refused")
    assert "lock" in refused.error or "stale plan" in refused.error


def test_a_held_lock_refuses_and_a_stale_one_can_be_cleared(harden_lab, tmp_path):
    t = target(harden_lab, "stock")
    inventory, hosts = t.resolve()
    holder = "20261128T000000Z-abcdef"

    def take(conn, host):
        return Transaction(conn, holder, become=False).call("lock", "run by a teammate").ok

    app.rollback(t, None)  # undo the concurrency test's change so the plan is not empty
    assert run_fleet(hosts, take, t.connect_options(), resolve_host=inventory.hosts.get)[0].value
    _code, result = harden(harden_lab, "stock", tmp_path, yes=True)
    assert result["stock"]["apply"]["outcome"] == "refused"
    assert holder in result["stock"]["apply"]["error"] and "teammate" in result["stock"]["apply"]["error"]
    # The holder has no run state and the host did not reboot: it may be alive, so unlock refuses...
    assert app.unlock(t) == app.EXIT_ERROR
    state = run_fleet(
        hosts, lambda c, h: lock_state(c, become=False), t.connect_options(), resolve_host=inventory.hosts.get
    )[0].value
    assert state.locked and not state.stale
    # ...until told the holder is dead.
    assert app.unlock(t, force=True) == app.EXIT_OK
    assert app.unlock(t) == app.EXIT_OK  # nothing left to clear


def test_harden_and_rollback_through_sudo_never_show_the_password(harden_lab, tmp_path, capfd):
    app.rollback(target(harden_lab, "stock"), None)  # start from the seeded host whatever ran before
    start = snapshot(harden_lab, "stock")
    _code, hosts = harden(harden_lab, "stock-ops", tmp_path, yes=True)
    assert hosts["stock-ops"]["apply"]["outcome"] == "changed", hosts["stock-ops"]["apply"]
    assert app.rollback(target(harden_lab, "stock-ops"), None) == app.EXIT_OK
    assert _without_runs(snapshot(harden_lab, "stock")) == _without_runs(start)
    captured = capfd.readouterr()
    written = "".join(p.read_text() for p in tmp_path.glob("*.json"))
    for text in (captured.out, captured.err, written):
        assert harden_lab.ops_password not in text


MUTUAL_TLS = "tcp-mutual-tls"
TLS_CLIENT = "--tlscacert /root/lab-tls/ca.pem --tlscert /root/lab-tls/cert.pem --tlskey /root/lab-tls/key.pem"


@pytest.mark.engines
def test_harden_keeps_a_mutual_tls_listener_answering(harden_lab, tmp_path):
    """Issue 14 item 1: `tls: true` with a CA and no tlsverify key verifies clients, so harden keeps the
    listener: no hosts removal, no `-H fd://` drop-in; clients with a certificate still get in, others do not."""
    app.rollback(target(harden_lab, MUTUAL_TLS), None)  # start from the seeded host whatever ran before
    _code, hosts = harden(harden_lab, MUTUAL_TLS, tmp_path, dry_run=True)
    plan = hosts[MUTUAL_TLS]["plan"]
    changes = {c["path"]: c for c in plan["changes"]}
    assert not [p for p in changes if p.startswith("/etc/systemd/system/")], sorted(changes)
    after = json.loads(changes["/etc/docker/daemon.json"]["after"])
    assert "tcp://0.0.0.0:2376" in after["hosts"] and after["tls"] is True and "tlsverify" not in after
    assert not {"2.7", "REM-TCP"} & set(plan["still_failing"])
    _code, hosts = harden(harden_lab, MUTUAL_TLS, tmp_path, yes=True)
    try:
        assert hosts[MUTUAL_TLS]["apply"]["outcome"] == "changed", hosts[MUTUAL_TLS]["apply"]
        assert ssh(harden_lab, MUTUAL_TLS, "ss -Hltn 'sport = :2376'").strip()
        version = "version --format '{{.Server.Version}}'"
        assert ssh(harden_lab, MUTUAL_TLS, f"docker --tlsverify {TLS_CLIENT} -H tcp://127.0.0.1:2376 {version}").strip()
        no_cert = subprocess.run(
            harden_lab.lab.ssh_argv(
                MUTUAL_TLS, ["docker --tlsverify --tlscacert /root/lab-tls/ca.pem -H tcp://127.0.0.1:2376 version"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert no_cert.returncode != 0, no_cert.stdout
        _, outcomes = app.run_audit(
            target(harden_lab, MUTUAL_TLS), app.AuditOptions(json_path=tmp_path / "a.json", show_passed=True)
        )
        results = {r.check.id: r.status for r in outcomes[0].value.results}
        assert results["2.7"] == results["REM-TCP"] == "pass", results
    finally:
        assert app.rollback(target(harden_lab, MUTUAL_TLS), None) == app.EXIT_OK


ENV_DROPIN = "/etc/systemd/system/docker.service.d/env-tcp.conf"


@pytest.mark.engines
def test_tcp_from_environment_in_a_drop_in_is_closed_by_harden(harden_lab, tmp_path):
    """DOCKER_OPTS set by Environment= in an owner's drop-in: harden's own drop-in sets it again without the
    TCP -H (systemd takes the last assignment); the owner's file stays as written."""
    app.rollback(target(harden_lab, "stock"), None)  # start from the seeded host whatever ran before
    seed = (
        f"mkdir -p {ENV_DROPIN.rsplit('/', 1)[0]} && printf '%s\\n' '[Service]' "
        f"'Environment=\"DOCKER_OPTS=-H tcp://0.0.0.0:2375 --label=env-tcp=1\"' > {ENV_DROPIN} && "
        "systemctl daemon-reload && systemctl restart docker"
    )
    ssh(harden_lab, "stock", seed)
    try:
        assert ssh(harden_lab, "stock", "ss -Hltn 'sport = :2375'").strip()
        code, hosts = harden(harden_lab, "stock", tmp_path, yes=True)
        plan = hosts["stock"]["plan"]
        assert hosts["stock"]["apply"]["outcome"] == "changed" and code == app.EXIT_OK, (code, plan["notes"])
        assert not {"2.7", "REM-TCP"} & set(plan["still_failing"])
        assert ssh(harden_lab, "stock", "ss -Hltn 'sport = :2375'").strip() == ""
        assert "tcp://" in ssh(harden_lab, "stock", f"cat {ENV_DROPIN}")  # the owner's file, untouched
        main = "/proc/$(systemctl show -p MainPID --value docker)/cmdline"
        assert "--label=env-tcp=1" in ssh(harden_lab, "stock", f"tr '\\0' ' ' < {main}")  # the rest of it kept
    finally:
        app.rollback(target(harden_lab, "stock"), None)
        ssh(harden_lab, "stock", f"rm -f {ENV_DROPIN} && systemctl daemon-reload && systemctl restart docker")
