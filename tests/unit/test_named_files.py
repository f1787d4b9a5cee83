"""Issue 14 item 10: TLS files named by flags and custom API socket paths are judged by 3.9-3.16.

Facts: the captured stock host with an ExecStart drop-in (or DOCKER_OPTS, daemon.json, docker.socket
Listen) naming the files, as systemd shows them; the gather side is tested on the same facts.
"""

from __future__ import annotations

import pytest

from remediate.checks import evaluate, select
from remediate.checks.context import CheckContext
from remediate.checks.model import FAIL, PASS
from remediate.facts.gather import _discovered_paths, tls_files
from remediate.policy import policy_for
from tests.facts_builder import stock

POLICY = policy_for({})
DROP_IN = "/etc/systemd/system/docker.service.d/override.conf"
BASE = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"
CA, CERT, KEY = "/srv/tls/ca", "/srv/tls/server", "/srv/tls/server-key"  # no telling suffix
TLS_FLAGS = f"--tlsverify --tlscacert={CA} --tlscert {CERT} --tlskey={KEY} -H tcp://0.0.0.0:2376"


def with_drop_in(base, argv: str):
    return (
        base.add_file(DROP_IN, f"[Service]\nExecStart=\nExecStart={argv}\n")
        .service(DropInPaths=DROP_IN)
        .exec_start(argv)
    )


def with_tls_files(base, key_mode: int = 0o400):
    return (
        base.add_file(CA, kind="file", mode=0o444)
        .add_file(CERT, kind="file", mode=0o444)
        .add_file(KEY, kind="file", mode=key_mode)
    )


def results(facts, *check_ids):
    ctx = CheckContext(facts.build(), POLICY, host_name=facts.facts.host)
    return {r.check.id: r for r in evaluate(ctx, select()) if r.check.id in check_ids}


TLS_CHECKS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def test_tls_files_named_by_exec_start_flags_are_judged():
    facts = with_tls_files(with_drop_in(stock(), f"{BASE} {TLS_FLAGS}"))
    assert tls_files(facts.build()) == {CA, CERT, KEY}
    found = results(facts, *TLS_CHECKS)
    assert {c: r.status for c, r in found.items()} == dict.fromkeys(TLS_CHECKS, PASS)
    assert f"{KEY}: mode 0400" in found["3.14"].evidence[0]


def test_a_readable_key_named_in_docker_opts_fails_3_14():
    facts = with_tls_files(stock().append("/etc/default/docker", f'DOCKER_OPTS="{TLS_FLAGS}"'), key_mode=0o644)
    found = results(facts, "3.13", "3.14")
    assert (found["3.13"].status, found["3.14"].status) == (PASS, FAIL)
    assert KEY in found["3.14"].evidence[0]


SOCK = "/srv/docker/api.sock"


def with_socket_file(base, path: str = SOCK, mode: int = 0o666, group: str = "docker"):
    return base.add_file(path, kind="socket", mode=mode, group=group)


@pytest.mark.parametrize("how", ["flag", "daemon.json"])
def test_a_unix_socket_dockerd_is_told_to_listen_on_is_judged(how):
    if how == "flag":
        facts = with_drop_in(stock(), f"{BASE} -H unix://{SOCK}")
    else:
        facts = with_drop_in(stock(), "/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock")
        facts = facts.daemon_json({"hosts": [f"unix://{SOCK}"]})
    facts = with_socket_file(facts)
    assert SOCK in _discovered_paths(facts.build())
    found = results(facts, "3.15", "3.16")
    assert found["3.16"].status == FAIL and any(SOCK in e for e in found["3.16"].evidence), found["3.16"].evidence
    assert found["3.15"].status == PASS and any(SOCK in e for e in found["3.15"].evidence)


def test_a_custom_docker_socket_listen_stream_is_gathered_and_judged():
    facts = with_socket_file(stock().socket(Listen=f"{SOCK} (Stream)"), mode=0o660)
    assert SOCK in _discovered_paths(facts.build())
    found = results(facts, "3.15", "3.16")
    assert found["3.16"].status == PASS and found["3.16"].evidence[0].startswith(f"{SOCK}: mode 0660")


def test_var_run_and_run_are_one_socket():
    facts = with_drop_in(stock(), f"{BASE} -H unix:///var/run/docker.sock")
    found = results(facts, "3.16")
    assert len(found["3.16"].evidence) == 1 and found["3.16"].evidence[0].startswith("/run/docker.sock:")


def test_flag_tls_without_file_flags_judges_dockerds_default_files():
    """--tlsverify alone: dockerd loads ca.pem, cert.pem and key.pem from $DOCKER_CERT_PATH or ~/.docker."""
    facts = with_drop_in(stock(), f"{BASE} --tlsverify -H tcp://0.0.0.0:2376")
    defaults = {f"/root/.docker/{name}" for name in ("ca.pem", "cert.pem", "key.pem")}
    assert defaults <= tls_files(facts.build())
    facts = (
        facts.add_file("/root/.docker/ca.pem", mode=0o444)
        .add_file("/root/.docker/cert.pem", mode=0o444)
        .add_file("/root/.docker/key.pem", mode=0o600)
    )
    found = results(facts, *TLS_CHECKS)
    assert {c: r.status for c, r in found.items()} == {**dict.fromkeys(TLS_CHECKS, PASS), "3.14": FAIL}
    assert found["3.14"].evidence[0].startswith("/root/.docker/key.pem: mode 0600")
