"""Key material is never read (issue 12): TLS files, registry certificates and keys are only ever stat-ed,
and a chmod/chown carries no bytes into the plan, its results or its reports."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shlex

import pytest

from remediate.connection.batch import Batch, run_batch
from remediate.connection.local import LocalConnection
from remediate.facts import gather as gather_module
from remediate.facts.gather import gather, tls_files
from remediate.facts.model import FileFact, HostFacts
from remediate.facts.probes import FIXED_PATHS, is_key_material
from remediate.plan import plan_host
from remediate.plan.model import FileChange, Plan
from remediate.plan.permissions import combine, permission_fixes
from remediate.plan.simulate import apply_plan
from remediate.plan.view import HostView
from tests.facts_builder import fixture, stock
from tests.plan_fixtures import policy

CLIENT_KEY = "/etc/docker/certs.d/registry.example:5000/client.key"
CLIENT_CERT = "/etc/docker/certs.d/registry.example:5000/client.cert"
_STEP = re.compile(r'\b(readfile|statfile) "\$\{(\d+)\}"')


def steps(script: str, args: list[str]) -> dict[str, set[str]]:
    """What the batch script does with each path it is given: {"readfile": {...}, "statfile": {...}}."""
    found: dict[str, set[str]] = {"readfile": set(), "statfile": set()}
    for function, index in _STEP.findall(script):
        found[function].add(args[int(index) - 1])
    return found


class RecordingConnection(LocalConnection):
    """This machine, keeping every script, its arguments and the bytes the host sent back."""

    def __init__(self):
        super().__init__("recorded")
        self.scripts: list[tuple[str, list[str]]] = []
        self.received = b""

    def run_script(self, script, *, args=(), stdin=None, become=False, timeout=None):
        result = super().run_script(script, args=args, stdin=stdin, become=become, timeout=timeout)
        self.scripts.append((script, list(args)))
        self.received += result.stdout + result.stderr
        return result


# --- the predicate -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        CLIENT_KEY,
        CLIENT_CERT,
        "/etc/docker/certs.d/registry.example:5000/ca",
        "/etc/docker/certs.d//x/ca.crt",
        "/etc/docker/tls/server-key.pem",
        "/srv/tls/SERVER.KEY",
        "/root/.docker/cert.pem",
        "/etc/pki/a.crt",
        "/etc/pki/bundle.p12",
        "/etc/docker/key.json",
    ],
)
def test_certificates_and_keys_are_key_material_wherever_they_are(path):
    assert is_key_material(path)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/docker/daemon.json",
        "/etc/docker/seccomp.json",
        "/etc/default/docker",
        "/etc/docker/certs.d",
        "/lib/systemd/system/docker.service",
        "/etc/audit/rules.d/docker.rules",
        "/etc/docker/monkey.json",
    ],
)
def test_configuration_files_are_not_key_material(path):
    assert not is_key_material(path)


def test_a_file_the_configuration_names_is_key_material_whatever_its_name():
    assert is_key_material("/etc/docker/server-key", named={"/etc/docker/server-key"})
    assert is_key_material("/etc/docker/server-key", named={"/etc/docker//tls/../server-key"})
    assert not is_key_material("/etc/docker/server-key")
    assert not any(is_key_material(p) for p in FIXED_PATHS)


def test_tls_files_come_from_daemon_json_flags_docker_opts_and_the_running_daemon():
    facts = (
        stock()
        .daemon_json({"tlscacert": "/etc/docker/ca"})
        .exec_start("/usr/sbin/dockerd -H fd:// --tlskey /etc/docker/server-key $DOCKER_OPTS")
        .text("/etc/default/docker", 'DOCKER_OPTS="--tlscert=/etc/docker/server-cert"\n')
        .command("dockerd_cmdline", "/usr/sbin/dockerd\n--tlskey=/run/live-key\n--tlscert\n/run/live-cert\n")
        .build()
    )
    assert tls_files(facts) == {
        "/etc/docker/ca",
        "/etc/docker/server-key",
        "/etc/docker/server-cert",
        "/run/live-key",
        "/run/live-cert",
    }
    assert tls_files(stock().build()) == frozenset()


# --- the batch: a stat step never opens the file --------------------------------------------------------


def test_a_stat_step_reports_metadata_and_never_opens_the_file(tmp_path):
    secret = f"KEY-{secrets.token_hex(8)}"
    key = tmp_path / "client.key"
    key.write_text(secret)
    key.chmod(0o600)
    (tmp_path / "link").symlink_to(key)
    batch = Batch().add_stat("key", str(key)).add_stat("link", str(tmp_path / "link"))
    batch.add_stat("dir", str(tmp_path)).add_stat("absent", str(tmp_path / "absent"))
    script, args = batch.script()
    assert steps(script, args) == {
        "readfile": set(),
        "statfile": {str(key), str(tmp_path / "link"), str(tmp_path), str(tmp_path / "absent")},
    }
    conn = RecordingConnection()
    results = run_batch(conn, batch)
    assert secret.encode() not in conn.received
    info, st = results["key"].file, key.stat()
    assert info.content is None and results["key"].stdout == b"" and info.is_file
    assert (info.stat.mode, info.stat.size, info.stat.dev, info.stat.ino) == (0o600, len(secret), st.st_dev, st.st_ino)
    link = results["link"].file
    assert link.is_symlink and link.link_target == str(key) and link.content is None and link.stat.ino == st.st_ino
    assert results["dir"].file.is_dir and not results["absent"].file.exists and results["absent"].rc == 0


def test_reads_report_device_and_inode_too(tmp_path):
    (tmp_path / "f").write_text("x")
    info = run_batch(LocalConnection("t"), Batch().add_read("f", str(tmp_path / "f")))["f"].file
    assert (info.stat.dev, info.stat.ino) == (os.stat(tmp_path / "f").st_dev, os.stat(tmp_path / "f").st_ino)
    assert info.content == b"x"


def test_a_read_never_follows_an_innocent_name_to_key_material(tmp_path):
    """A link named like a configuration file but pointing at a key is stat-ed through, never read."""
    secret = f"KEY-{secrets.token_hex(8)}"
    (tmp_path / "server.key").write_text(secret)
    (tmp_path / "daemon.conf").symlink_to(tmp_path / "server.key")
    conn = RecordingConnection()
    info = run_batch(conn, Batch().add_read("f", str(tmp_path / "daemon.conf")))["f"].file
    assert secret.encode() not in conn.received
    assert info.is_symlink and info.content is None and info.stat.size == len(secret)


# --- gather, end to end through sh, on a host made of files in tmp_path ---------------------------------


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """A host whose dockerd names TLS files every way it can, whose certs.d holds a client key, and whose
    daemon.json is at a --config-file (so names arrive in every round). Every key file holds the secret."""
    secret = f"KEYMATERIAL-{secrets.token_hex(12)}"
    root = tmp_path
    (root / "etc").mkdir()
    (root / "tls").mkdir()
    registry = root / "certs.d" / "registry.example:5000"
    registry.mkdir(parents=True)
    keys = {
        "ca": root / "tls" / "ca",  # daemon.json tlscacert, no telling name
        "server-key": root / "tls" / "server-key",  # --tlskey in ExecStart
        "server-cert": root / "tls" / "server-cert",  # --tlscert in $DOCKER_OPTS of an EnvironmentFile
        "live-key": root / "tls" / "live-key",  # the running dockerd's --tlskey
        "client.key": registry / "client.key",  # found in certs.d
        "client.cert": registry / "client.cert",
        "extra.pem": root / "extra.pem",  # asked for by apply (extra_paths)
    }
    for name, path in keys.items():
        path.write_text(f"-----BEGIN PRIVATE KEY-----\n{secret} {name}\n")
        path.chmod(0o600)
    (root / "etc" / "daemon.json").write_text(
        json.dumps({"tlsverify": True, "tlscacert": str(keys["ca"]), "seccomp-profile": str(root / "seccomp.json")})
    )
    (root / "seccomp.json").write_text('{"defaultAction": "SCMP_ACT_ERRNO"}\n')
    (root / "env").write_text(f'DOCKER_OPTS="--tlscert={keys["server-cert"]}"\n')
    (root / "notes.conf").write_text("plain\n")
    argv = f"/usr/sbin/dockerd -H fd:// --config-file {root}/etc/daemon.json --tlskey {keys['server-key']} $DOCKER_OPTS"
    service = (
        f"MainPID=0\nExecStart={{ path=/usr/sbin/dockerd ; argv[]={argv} ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"
        f"EnvironmentFiles={root}/env (ignore_errors=yes)\nLoadState=loaded\nActiveState=inactive\n"
        "FragmentPath=\nDropInPaths=\n"
    )
    shown = "\n".join([service] + ["LoadState=not-found\nActiveState=inactive\n"] * 5)
    monkeypatch.setattr(gather_module, "FIXED_PATHS", ())
    monkeypatch.setattr(gather_module, "COMMANDS", {"systemd": ["printf", "%s", shown]})
    monkeypatch.setattr(gather_module, "SNIPPET_INPUTS", {})
    monkeypatch.setattr(
        gather_module,
        "SNIPPETS",
        {
            "dockerd_cmdline": f"printf '%s\\n' /usr/sbin/dockerd --tlskey {shlex.quote(str(keys['live-key']))}",
            "discovered_paths": f"find {shlex.quote(str(root / 'certs.d'))} -type f",
        },
    )
    return secret, keys, root


def test_gather_stats_every_key_file_and_reads_what_it_needs(fake_host):
    secret, keys, root = fake_host
    conn = RecordingConnection()
    facts = gather(conn, extra_paths=(str(keys["extra.pem"]), str(root / "notes.conf")))
    # not one byte of key material left the host, in any round
    assert secret.encode() not in conn.received
    read, stat = set(), set()
    for script, args in conn.scripts:
        done = steps(script, args)
        read, stat = read | done["readfile"], stat | done["statfile"]
    assert {str(p) for p in keys.values()} <= stat and not read & {str(p) for p in keys.values()}
    # ... yet their metadata is all there, for the 3.7-3.14 checks and for apply's inode check
    for path in keys.values():
        fact, st = facts.file(str(path)), path.stat()
        assert fact.kind == "file" and fact.content is None, path
        assert (fact.mode, fact.size, fact.mtime) == (0o600, st.st_size, int(st.st_mtime))
        assert fact.inode == f"{st.st_dev}:{st.st_ino}"
    # what the checks and the planner need is still read
    for path in ("etc/daemon.json", "seccomp.json", "env", "notes.conf"):
        assert facts.file(str(root / path)).content == (root / path).read_bytes(), path
    assert conn.round_trips == 3  # the daemon.json at --config-file and the env file name TLS files in round 2
    saved = json.dumps(facts.to_json())
    assert secret not in saved
    assert not any(base64.b64encode(path.read_bytes()).decode() in saved for path in keys.values())


def test_extra_paths_wait_until_the_configuration_that_names_tls_files_is_read(fake_host):
    """The tlscacert named only by the daemon.json at --config-file, asked for by apply: never read in round 2."""
    secret, keys, _ = fake_host
    conn = RecordingConnection()
    facts = gather(conn, extra_paths=(str(keys["ca"]),))
    assert secret.encode() not in conn.received and facts.file(str(keys["ca"])).content is None
    _script, round_two = conn.scripts[1]
    assert str(keys["ca"]) not in round_two and str(keys["ca"]) in conn.scripts[2][1]


def test_a_fixed_path_the_configuration_names_as_a_tls_file_loses_its_bytes():
    facts = HostFacts(
        "h", files={"/etc/default/docker": FileFact("/etc/default/docker", "file", 0o644, content=b"SECRET")}
    )
    gather_module._forget_key_material(facts, {"/etc/default/docker"})
    assert facts.file("/etc/default/docker").content is None and facts.file("/etc/default/docker").mode == 0o644


def test_saved_facts_with_key_bytes_from_before_load_without_them():
    data = {
        "format": 1,
        "host": "h",
        "files": {
            CLIENT_KEY: FileFact(CLIENT_KEY, "file", 0o600, size=6, content=b"SECRET").to_json(),
            "/etc/docker/daemon.json": FileFact("/etc/docker/daemon.json", "file", 0o644, content=b"{}").to_json(),
        },
        "commands": {},
    }
    loaded = HostFacts.from_json(data)
    assert loaded.file(CLIENT_KEY).content is None and loaded.file(CLIENT_KEY).size == 6
    assert loaded.file("/etc/docker/daemon.json").content == b"{}"
    old = loaded.file("/etc/docker/daemon.json")
    assert old.inode is None and "ino" not in old.to_json()  # facts gathered before dev/ino still load


# --- the plan: chmod/chown carries no bytes -------------------------------------------------------------


def _with_client_key(secret: str):
    return (
        stock()
        .add_file(CLIENT_KEY, secret, mode=0o600, inode=(2049, 77))
        .add_file(CLIENT_CERT, "-----BEGIN CERTIFICATE-----\n", mode=0o644, inode=(2049, 78))
    )


def test_a_chmod_is_metadata_only_with_the_inode_found():
    fixes = permission_fixes(HostView(_with_client_key("x").build(), policy()))
    change = fixes[CLIENT_KEY]
    assert change.metadata_only and change.before is None and change.after is None
    assert (change.old_mode, change.mode, change.old_inode) == (0o600, 0o400, "2049:77")
    assert not change.creates and not change.deletes and not change.content_changed and change.changed
    data = change.to_json()
    assert data["action"] == "chmod/chown" and data["metadata_only"] is True and data["old_inode"] == "2049:77"
    assert data["before"] is None and data["after"] is None and "---" not in data["diff"]
    assert "old mode 100600\nnew mode 100400\n" in data["diff"]


def test_a_chmod_of_a_file_whose_bytes_are_known_still_carries_none():
    facts = fixture("loose-perms").build()
    plan = plan_host(facts, policy())
    dropin = plan.change("/etc/systemd/system/docker.service.d/limits.conf")
    assert dropin.metadata_only and dropin.before is None and dropin.after is None and dropin.mode == 0o644
    # the model still sees the file with its bytes and its new mode
    after = apply_plan(facts, plan).file(dropin.path)
    assert after.content == facts.file(dropin.path).content and after.mode == 0o644


def test_metadata_only_changes_refuse_content_and_directories_are_metadata_only():
    with pytest.raises(ValueError, match="carries no content"):
        FileChange("/etc/x", b"a", b"a", "root", "root", 0o644, metadata_only=True)
    assert FileChange("/etc/docker", None, None, "root", "root", 0o755, kind="directory").metadata_only


def test_a_content_change_merged_with_a_chmod_keeps_the_bytes_whichever_came_first():
    write = FileChange(
        "/etc/f", b"old\n", b"new\n", "root", "root", 0o666, ("x",), "rewrite", 0o666, "ops", "ops", old_inode="1:2"
    )
    chmod = FileChange(
        "/etc/f",
        None,
        None,
        "root",
        "root",
        0o644,
        ("3.18",),
        "chmod",
        0o666,
        "ops",
        "ops",
        metadata_only=True,
        old_inode="1:2",
    )
    for merged in (combine(write, chmod), combine(chmod, write)):
        assert (merged.before, merged.after, merged.mode, merged.metadata_only) == (b"old\n", b"new\n", 0o644, False)
        assert merged.fixes in (("x", "3.18"), ("3.18", "x")) and merged.old_inode == "1:2"
    both = combine(chmod, chmod)
    assert both.metadata_only and both.before is None


def test_a_plan_that_tightens_a_key_file_carries_no_key_bytes_anywhere():
    secret = f"KEYMATERIAL-{secrets.token_hex(8)}"
    facts = _with_client_key(secret).build()
    assert facts.file(CLIENT_KEY).content is None  # as gather would have recorded it
    plan = plan_host(facts, policy())
    change = plan.change(CLIENT_KEY)
    assert change is not None and change.metadata_only and change.fixes == ("3.8",)
    text = plan.dumps() + json.dumps(Plan(plan.host, plan.changes).to_json())
    assert secret not in text and base64.b64encode(secret.encode()).decode() not in text
    assert '"old_inode": "2049:77"' in plan.dumps()
