"""Hostile inputs and hostile hosts against real lab hosts (issue 7, faults 1, 7, 10 and 11), and a sweep of a
full run's output for secrets.

Each fault test changes a plain stock host (stock-01 or stock-02) and puts it back: the `host01`/`host02`
fixtures check afterwards that every path harden may touch has its seeded bytes, owner and mode again and that
dockerd runs, so no case leaks into the next. Each case asserts the file's bytes, owner and mode, dockerd's state
and the reported outcome.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
from dataclasses import dataclass

import pytest

from remediate import app
from remediate.apply.engine import ApplyOptions, apply_host
from remediate.harden import HardenOptions
from remediate.results import new_run_id
from remediate.runner import run_fleet
from tests.lab.test_harden import _plan_for, _without_runs, harden, snapshot, ssh, target

DAEMON_JSON = "/etc/docker/daemon.json"
# Undo whatever a case left: flags first (an immutable file cannot be removed), then everything a stock host
# does not have; dockerd is restarted only when the case says it ran with another configuration.
RESET = r"""
chattr -i -a /etc/docker/daemon.json 2>/dev/null
rm -rf /etc/docker/daemon.json /etc/docker/daemon.json.* /etc/docker/site.json /etc/audit \
       /etc/systemd/system/docker.service.d /etc/systemd/system/docker.socket.d /var/lib/remediate
systemctl daemon-reload
if [ "$mode" = restart ] || ! systemctl is-active --quiet docker.service; then
    systemctl reset-failed docker.service docker.socket
    systemctl restart docker.socket docker.service
fi
"""


@dataclass
class Host:
    lab: object
    name: str
    restart: bool = False  # dockerd ran with another configuration: restart it when putting the host back

    def run(self, script: str) -> str:
        return ssh(self.lab, self.name, script)

    def docker(self) -> str:
        return self.run("systemctl is-active docker.service || true").strip()

    def state(self) -> list[str]:
        """Bytes (sha256), owner, mode and mtime of every path harden may touch; harden's own runs aside."""
        return _without_runs(snapshot(self.lab, self.name))


@pytest.fixture(scope="module")
def seeded(inputs_lab) -> dict[str, list[str]]:
    return {name: Host(inputs_lab, name).state() for name in ("stock-01", "stock-02")}


def _pristine(lab, seeded, name):
    host = Host(lab, name)
    yield host
    host.run(f"mode={'restart' if host.restart else 'keep'}\n{RESET}")
    assert host.state() == seeded[name], f"{name} was not put back as seeded"
    assert host.docker() == "active"


@pytest.fixture
def host01(inputs_lab, seeded):
    yield from _pristine(inputs_lab, seeded, "stock-01")


@pytest.fixture
def host02(inputs_lab, seeded):
    yield from _pristine(inputs_lab, seeded, "stock-02")


def audit_of(lab, host: str) -> dict:
    doc, _ = app.run_audit(target(lab, host), app.AuditOptions())
    entry = doc.to_json()["hosts"][0]
    assert entry["status"] == "ok", entry
    return {r["id"]: r for r in entry["results"]}


# --- 11. daemon.json that is not a plain, readable JSON file -----------------------------------------------------


@dataclass(frozen=True)
class Case:
    setup: str  # shell, as root on the host
    audit: tuple[str, str]  # REM-CONFIG status, and text its evidence must hold
    refused: str | None = None  # the plan refuses, saying this
    invalid: str | None = None  # or the host's validation fails (dry run and apply), saying this
    changed: bool = False  # or the file is rewritten losslessly
    repair_json: bool = False


SITE_JSON = '{\n  "debug": false\n}\n'
CASES = {
    "symlink": Case(
        f"printf '{SITE_JSON}' >/etc/docker/site.json; ln -s site.json {DAEMON_JSON}",
        ("pass", "symlink to site.json"),
        refused="is a symlink",
    ),
    "directory": Case(f"mkdir {DAEMON_JSON}", ("fail", "is a directory"), refused="not a regular file"),
    "immutable": Case(
        f"printf '{SITE_JSON}' >{DAEMON_JSON}; chattr +i {DAEMON_JSON}",
        ("pass", "consistent"),
        invalid="immutable (chattr +i)",
    ),
    # Valid JSON padded to 2 MB: dockerd reads it, harden will not rewrite what nobody can review.
    "huge": Case(
        f"{{ printf '{{\"debug\": false'; head -c 2000000 /dev/zero | tr '\\0' '\\n'; echo '}}'; }} >{DAEMON_JSON}",
        ("pass", "over the 1048576"),
        refused="too large to review",
    ),
    # Over what remediate reads at all: even --repair-json must not keep a copy of only its first bytes.
    "huge-unread": Case(
        f"{{ printf '{{\"debug\": false'; head -c 9000000 /dev/zero | tr '\\0' ' '; echo '}}'; }} >{DAEMON_JSON}",
        ("fail", "was not read"),
        refused="could not be read",
        repair_json=True,
    ),
    "binary": Case(
        f"head -c 4096 /usr/sbin/dockerd >{DAEMON_JSON}", ("fail", "SyntaxError"), refused="cannot read exactly"
    ),
    "comments": Case(
        f"printf '{{\\n  // site settings\\n  \"debug\": false\\n}}\\n' >{DAEMON_JSON}",
        ("fail", "JSON does not allow comments"),
        refused="JSON does not allow comments",
    ),
    # Lossless rewrites: dockerd refuses these files (20.10) or reads only the last duplicate; the policy's
    # settings are merged into exactly what dockerd reads.
    "duplicate-keys": Case(
        f'printf \'{{\\n  "debug": true,\\n  "debug": false\\n}}\\n\' >{DAEMON_JSON}',
        ("fail", "is set 2 times"),
        changed=True,
    ),
    "utf8-bom": Case(
        f"printf '\\357\\273\\277{{\"debug\": false}}\\n' >{DAEMON_JSON}", ("fail", "byte order mark"), changed=True
    ),
    "empty": Case(f": >{DAEMON_JSON}", ("fail", "the file is empty"), changed=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_odd_daemon_json_is_diagnosed_and_never_clobbered(inputs_lab, host01, tmp_path, name):
    case = CASES[name]
    host01.run(case.setup)
    config = audit_of(inputs_lab, host01.name)["REM-CONFIG"]
    assert config["status"] == case.audit[0] and case.audit[1] in " ".join(config["evidence"]), config
    before = host01.state()
    original = host01.run(f"[ -f {DAEMON_JSON} ] && head -c 65536 {DAEMON_JSON} | base64 -w0 || true")

    code, hosts = harden(inputs_lab, host01.name, tmp_path, yes=True, repair_json=case.repair_json)
    entry = hosts[host01.name]
    assert code == (app.EXIT_OK if case.changed else app.EXIT_ERROR)
    if case.changed:
        host01.restart = True
        _assert_lossless_rewrite(host01, entry, base64.b64decode(original))
        return
    if case.refused:
        assert case.refused in entry["plan"]["refused"], entry["plan"]
    if case.invalid:
        failed = [s for s in entry["validation"]["steps"] if not s["ok"]]
        assert [s["name"] for s in failed] == ["writable"] and case.invalid in failed[0]["detail"], failed
        assert "i" in host01.run(f"lsattr {DAEMON_JSON}").split()[0]
    assert entry["apply"] is None  # nothing was attempted
    assert host01.state() == before, "a refused harden changed the host"
    assert host01.docker() == "active"


def _assert_lossless_rewrite(host: Host, entry: dict, original: bytes) -> None:
    assert entry["apply"]["outcome"] == "changed", entry["apply"]
    steps = {s["step"]: s for s in entry["apply"]["steps"]}
    assert steps["verify"]["ok"] and host.docker() == "active"
    change = next(c for c in entry["plan"]["changes"] if c["path"] == DAEMON_JSON)
    written = host.run(f"cat {DAEMON_JSON}")
    assert written == change["after"] and not written.startswith("\ufeff")
    assert host.run(f"stat -c '%U:%G %a' {DAEMON_JSON}").strip() == "root:root 644"  # as it was
    text = original.decode("utf-8-sig")
    kept = json.loads(text) if text.strip() else {}  # json keeps the last duplicate, as dockerd does
    after = json.loads(written)
    assert all(after[key] == value for key, value in kept.items()), (kept, after)
    if '"debug": true' in text:
        assert any("is set 2 times" in note for note in entry["plan"]["notes"])


def test_a_file_made_immutable_after_validation_rolls_back_cleanly(inputs_lab, host01):
    """The flag appears between validation and the commit: the rename fails, and the rollback must not fail
    on the one file that never changed (nor leave the other files it had already put in place)."""
    host01.run(f"printf '{SITE_JSON}' >{DAEMON_JSON}")
    before = host01.state()
    t = target(inputs_lab, host01.name)
    inventory, hosts = t.resolve()

    class ImmutableBeforeCommit:
        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def run_script(self, script, *, args=(), **kwargs):
            if args and args[0] == "commit":
                self.conn.run(["chattr", "+i", DAEMON_JSON])
            return self.conn.run_script(script, args=args, **kwargs)

    def work(conn, host):
        facts, policy, plan = _plan_for(conn, host)
        assert plan.change(DAEMON_JSON) and len(plan.changes) > 1
        return apply_host(
            ImmutableBeforeCommit(conn),
            facts,
            plan,
            policy,
            run_id=new_run_id(),
            become=False,
            options=ApplyOptions(verify_image="busybox:latest"),
            groups=tuple(host.groups),
        )

    result = run_fleet(hosts, work, t.connect_options(), resolve_host=inventory.hosts.get)[0].value
    assert result.outcome == "rolled-back", result
    assert f"cannot rename into {DAEMON_JSON}" in result.error and "ROLLBACK FAILED" not in result.error
    assert host01.state() == before
    assert host01.docker() == "active"


# --- 1. dockerd refuses the new configuration at restart -----------------------------------------------------------


def test_a_unit_that_refuses_the_new_config_at_start_rolls_back(inputs_lab, host01, tmp_path):
    """Unlike test_harden's data-root case, dockerd itself never runs: a site's ExecStartPre check refuses
    any daemon.json, so the error comes from the unit, not from dockerd."""
    host01.run(
        "mkdir -p /etc/systemd/system/docker.service.d &&\n"
        "cat >/etc/systemd/system/docker.service.d/site-check.conf <<'EOF'\n"
        "[Service]\n"
        "ExecStartPre=/bin/sh -c 'if [ -e /etc/docker/daemon.json ]; then echo \"site policy refuses "
        "/etc/docker/daemon.json\" >&2; exit 1; fi'\n"
        "EOF\n"
        "systemctl daemon-reload"
    )
    before = host01.state()
    code, hosts = harden(inputs_lab, host01.name, tmp_path, yes=True)
    result = hosts[host01.name]["apply"]
    assert code == app.EXIT_ERROR and result["outcome"] == "rolled-back", result
    assert "site policy refuses" in result["error"]
    assert host01.state() == before
    assert host01.docker() == "active"


# --- 7. a file edited between plan and apply --------------------------------------------------------------------


def test_a_file_edited_after_the_plan_refuses_that_host_only(inputs_lab, host01, host02, tmp_path):
    for host in (host01, host02):
        host.run(f"printf '{SITE_JSON}' >{DAEMON_JSON}")
    edited = '{\n  "debug": false,\n  "log-level": "warn"\n}\n'
    asked = []

    def teammate_edits_then_confirm(question):
        asked.append(question)
        host01.run(f"printf '{edited}' >{DAEMON_JSON}")
        return True

    out = tmp_path / "stale.json"
    code = app.harden(
        target(inputs_lab, f"{host01.name},{host02.name}"),
        HardenOptions(),
        json_path=out,
        confirm=teammate_edits_then_confirm,
    )
    hosts = {h["host"]: h for h in json.loads(out.read_text())["hosts"]}
    assert asked and code == app.EXIT_ERROR
    stale = hosts[host01.name]["apply"]
    assert stale["outcome"] == "refused" and "stale plan, nothing changed" in stale["error"]
    assert f"{DAEMON_JSON} changed since the plan was made" in stale["error"]
    assert host01.run(f"cat {DAEMON_JSON}") == edited
    assert host01.run("[ -e /etc/audit ] && echo present || echo absent").strip() == "absent"
    assert host01.docker() == "active"
    assert hosts[host02.name]["apply"]["outcome"] == "changed"
    assert app.rollback(target(inputs_lab, host02.name), None) == app.EXIT_OK
    assert host02.run(f"cat {DAEMON_JSON}") == SITE_JSON


# --- 10. no dockerd, masked units, no systemd --------------------------------------------------------------------

PARK = "/root/remediate-test-parked"
NO_DOCKERD = (
    f"systemctl stop docker.service docker.socket; mkdir -p {PARK}; "
    f"mv /usr/sbin/dockerd /lib/systemd/system/docker.service /lib/systemd/system/docker.socket {PARK}/; "
    "systemctl daemon-reload"
)
BACK_DOCKERD = (
    f"mv {PARK}/dockerd /usr/sbin/; mv {PARK}/docker.service {PARK}/docker.socket /lib/systemd/system/; "
    f"rmdir {PARK}; systemctl daemon-reload; systemctl start docker.socket docker.service"
)


def test_dockerd_removed_is_not_applicable_in_audit_and_harden(inputs_lab, host02, tmp_path):
    """`apt remove docker.io`: binary and units gone, the /etc/init.d/docker conffile kept (systemd then
    generates a docker.service from it, which runs no dockerd)."""
    host02.run(NO_DOCKERD)
    try:
        before = host02.state()
        results = audit_of(inputs_lab, host02.name)
        assert all(results[c]["status"] == "not-applicable" for c in ("2.2", "2.14", "REM-CONFIG", "REM-RUNNING"))
        assert not [r for r in results.values() if r["status"] == "error"]
        code, hosts = harden(inputs_lab, host02.name, tmp_path, yes=True)
        plan = hosts[host02.name]["plan"]
        assert code == app.EXIT_OK and plan["empty"] and "dockerd is not installed" in plan["notes"][0]
        assert hosts[host02.name]["apply"] is None
        assert host02.state() == before
    finally:
        host02.run(BACK_DOCKERD)


@pytest.mark.parametrize("unit", ["docker.socket", "docker.service"])
def test_a_masked_unit_is_reported_and_refused_and_dev_null_left_alone(inputs_lab, host02, tmp_path, unit):
    stop = "systemctl stop docker.service docker.socket; " if unit == "docker.service" else ""
    host02.run(f"{stop}systemctl mask {unit}")
    try:
        before = host02.state()
        results = audit_of(inputs_lab, host02.name)
        assert results["REM-RUNNING"]["status"] == "fail"
        assert f"{unit} is masked" in " ".join(results["REM-RUNNING"]["evidence"])
        assert results["3.2" if unit == "docker.service" else "3.4"]["status"] != "fail"  # /dev/null is no unit
        code, hosts = harden(inputs_lab, host02.name, tmp_path, yes=True)
        assert code == app.EXIT_ERROR and f"{unit} is masked" in hosts[host02.name]["plan"]["refused"]
        assert host02.state() == before
        assert host02.run("stat -c '%a %U:%G' /dev/null").strip() == "666 root:root"
        assert host02.docker() == ("active" if unit == "docker.socket" else "inactive")
    finally:
        host02.run(f"systemctl unmask {unit}; systemctl daemon-reload; systemctl start docker.socket docker.service")


def test_without_systemctl_audit_says_so_and_harden_refuses(inputs_lab, host02, tmp_path):
    """A lab host cannot run without systemd as PID 1; a host whose login cannot find systemctl is what
    remediate sees on a host without systemd (sysvinit, OpenRC, a container)."""
    host02.run("mv /usr/bin/systemctl /usr/bin/systemctl.remediate-test")
    try:
        before = host02.state()
        running = audit_of(inputs_lab, host02.name)["REM-RUNNING"]
        assert running["status"] == "not-applicable" and "systemctl was not found" in running["evidence"][0]
        code, hosts = harden(inputs_lab, host02.name, tmp_path, yes=True)
        assert code == app.EXIT_ERROR and "systemctl was not found" in hosts[host02.name]["plan"]["refused"]
        assert hosts[host02.name]["apply"] is None
        assert host02.state() == before
    finally:
        host02.run("mv /usr/bin/systemctl.remediate-test /usr/bin/systemctl")
    assert host02.docker() == "active"


# --- secrets: a full run never shows the sudo password or a container's environment --------------------------------


def _encodings(secret: str) -> list[bytes]:
    """The secret as written, and as it would appear inside any base64 text (facts keep file bytes in base64)."""
    raw = secret.encode()
    found = [raw]
    for pad, skip in ((0, 0), (1, 2), (2, 3)):
        found.append(base64.b64encode(b"\0" * pad + raw)[skip:-4])
    return found


def test_a_full_run_never_shows_the_sudo_password_or_container_secrets(inputs_lab, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, paramiko's included
    lab_hosts = target(inputs_lab, "lab")
    assert app.show_facts(lab_hosts, tmp_path / "facts") == app.EXIT_OK
    app.audit(lab_hosts, app.AuditOptions(json_path=tmp_path / "audit.json", report_dir=tmp_path / "audit"))
    app.harden(
        lab_hosts, HardenOptions(dry_run=True), json_path=tmp_path / "dry-run.json", report_dir=tmp_path / "dry-run"
    )
    ops = target(inputs_lab, "stock-ops")
    app.harden(ops, HardenOptions(yes=True), json_path=tmp_path / "apply.json", report_dir=tmp_path / "apply")
    applied = json.loads((tmp_path / "apply.json").read_text())["hosts"][0]["apply"]
    assert applied["outcome"] == "changed", applied
    manifests = ssh(inputs_lab, "stock", "cat /var/lib/remediate/runs/*/manifest.json /var/lib/remediate/runs/*/state")
    assert app.rollback(ops, None) == app.EXIT_OK

    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kinds = {p.suffix for p in written}
    assert {".json", ".html", ".md", ".xml", ".sarif"} <= kinds, kinds
    captured = capfd.readouterr()
    texts = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "log": caplog.text.encode(),
        "host manifests": manifests.encode(),
        **{str(p): data for p, data in written.items()},
    }
    assert captured.out and caplog.records  # the sweep looked at real output
    # What the risky-containers host would leak: it is gathered (its container checks ran), never its env.
    assert "host-namespaces" in (tmp_path / "audit.json").read_text()
    for secret in (inputs_lab.ops_password, inputs_lab.container_secret):
        assert secret
        for where, data in texts.items():
            assert not any(needle in data for needle in _encodings(secret)), f"a secret appears in {where}"
    journal = subprocess.run(
        inputs_lab.lab.ssh_argv("stock", ["journalctl --no-pager -o cat | grep -c -F -f /dev/stdin || true"]),
        input=inputs_lab.ops_password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert journal.stdout.strip() == "0", "the sudo password reached the host's journal (a command line?)"
