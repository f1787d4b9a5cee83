"""Drop-ins, the EnvironmentFile rewrite and chmod/chown, on captured lab facts and close variations."""

from __future__ import annotations

import json

from remediate.dockerd.systemd import split_words
from remediate.plan import plan_host
from remediate.plan.units import SERVICE_DROPIN, SOCKET_DROPIN, word_spans
from tests.plan_fixtures import load, policy, with_command, with_docker_opts, with_exec_start, with_file, with_service

DAEMON_JSON = "/etc/docker/daemon.json"
DEFAULT_DOCKER = "/etc/default/docker"


def plan(facts, **kwargs):
    return plan_host(facts, policy(), **kwargs)


def daemon_json(p) -> dict:
    change = p.change(DAEMON_JSON)
    return json.loads(change.after) if change else {}


def exec_start(p) -> str:
    lines = p.change(SERVICE_DROPIN).after.decode().splitlines()
    assert lines.index("ExecStart=") + 1 == len(lines) - 1  # reset first, then the command, last
    return lines[-1].removeprefix("ExecStart=")


def test_tcp_daemon_json_drops_hosts_and_restores_fd_in_a_late_drop_in():
    p = plan(load("tcp-daemon-json"))
    assert "hosts" not in daemon_json(p)
    assert exec_start(p) == "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
    assert "tcp" not in p.change(SERVICE_DROPIN).after.decode()
    assert SERVICE_DROPIN.rsplit("/", 1)[1] > "hosts.conf"  # sorts after the drop-in it overrides
    assert p.change("/etc/systemd/system/docker.service.d/hosts.conf") is None  # the owner's file stays
    assert {"2.7", "REM-TCP"} <= set(p.change(SERVICE_DROPIN).fixes)
    assert p.action_kinds()[:2] == ["daemon-reload", "restart-docker"]


def test_tcp_docker_opts_loses_only_the_tcp_words():
    facts = load("tcp-docker-opts")
    p = plan(facts)
    change = p.change(DEFAULT_DOCKER)
    before, after = change.before.decode().splitlines(), change.after.decode().splitlines()
    assert before[-1] == 'DOCKER_OPTS="-H tcp://0.0.0.0:2375"' and after[-1] == 'DOCKER_OPTS=""'
    assert before[:-1] == after[:-1] and after[0].startswith("# Here in Debian")  # comments byte for byte
    assert (change.mode, change.owner, change.group) == (0o644, "root", "root")
    assert p.change(SERVICE_DROPIN) is None  # ExecStart already has -H fd://
    assert "restart-docker" in p.action_kinds() and "daemon-reload" not in p.action_kinds()


def test_env_rewrite_keeps_other_flags_and_removes_insecure_ones():
    facts = with_docker_opts(
        load("stock"), '# site options\nDOCKER_OPTS="--dns 10.0.0.2 -D --insecure-registry reg.example:5000 --mtu=1400"'
    )
    p = plan(facts)
    change = p.change(DEFAULT_DOCKER)
    assert change.after.decode().splitlines()[-2:] == ["# site options", 'DOCKER_OPTS="--dns 10.0.0.2 --mtu=1400"']
    assert {"2.3", "2.5"} <= set(change.fixes)
    assert "debug" not in daemon_json(p) and "insecure-registries" not in daemon_json(p)


def test_a_configuration_dockerd_would_refuse_is_not_restarted_into():
    # systemd keeps "# ..." after a closing quote inside the value: dockerd gets "--mtu=1400#".
    facts = with_docker_opts(load("stock"), 'DOCKER_OPTS="--mtu=1400"  # site options')
    p = plan(facts)
    assert p.refused and "would refuse" in p.refused and "/etc/default/docker:13" in p.refused
    assert not p.changes and not p.actions


def test_tcp_socket_unit_gets_a_socket_drop_in_that_resets_listen_stream():
    p = plan(load("tcp-socket-unit"))
    text = p.change(SOCKET_DROPIN).after.decode()
    assert "[Socket]\nListenStream=\nListenStream=/run/docker.sock\n" in text
    assert "2375" not in text and "SocketMode=0660\nSocketUser=root\nSocketGroup=docker\n" in text
    assert p.change("/etc/systemd/system/docker.socket.d/tcp.conf") is None
    restart = next(a for a in p.actions if a.kind == "restart-docker")
    assert restart.units == ("docker.socket", "docker.service")


def test_loose_perms_chmods_files_and_fixes_the_socket_through_its_unit():
    p = plan(load("loose-perms"))
    assert p.change("/etc/docker").mode == 0o755 and p.change("/etc/docker").kind == "directory"
    assert p.change(DAEMON_JSON).mode == 0o644 and "3.18" in p.change(DAEMON_JSON).fixes
    limits = p.change("/etc/systemd/system/docker.service.d/limits.conf")
    assert limits.mode == 0o644 and limits.before == limits.after and limits.fixes == ("3.2",)
    assert "SocketMode=0660" in p.change(SOCKET_DROPIN).after.decode() and "3.16" in p.change(SOCKET_DROPIN).fixes
    assert p.change("/run/docker.sock") is None and p.change("/var/run/docker.sock") is None


def test_key_given_as_a_flag_stays_out_of_daemon_json():
    facts = with_exec_start(
        load("stock"),
        "ExecStart=/usr/sbin/dockerd -H fd:// --log-level=debug "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    )
    p = plan(facts)
    assert "log-level" not in daemon_json(p) and daemon_json(p)["icc"] is False
    assert any("--log-level=debug" in n for n in p.notes)
    assert p.change(SERVICE_DROPIN) is None  # not an insecure flag: reported, not rewritten
    assert "2.3" in p.still_failing and not p.refused


def test_tcp_flag_in_exec_start_is_removed_keeping_quoted_words():
    line = (
        'ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375 --label "team=core infra" '
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
    )
    p = plan(with_exec_start(load("stock"), line))
    assert exec_start(p) == (
        '/usr/sbin/dockerd -H fd:// --label "team=core infra" --containerd=/run/containerd/containerd.sock $DOCKER_OPTS'
    )
    assert "hosts" not in daemon_json(p)


def test_without_docker_socket_the_unix_socket_is_named():
    facts = with_exec_start(
        load("tcp-daemon-json"),
        "ExecStart=/usr/sbin/dockerd -H tcp://127.0.0.1:2375 --containerd=/run/containerd/containerd.sock",
    )
    facts = with_command(facts, "socket", "LoadState=not-found\nActiveState=inactive\n")
    facts = with_file(facts, "/etc/systemd/system/docker.service.d/hosts.conf", None)
    p = plan(facts)
    assert exec_start(p) == (
        "/usr/sbin/dockerd -H unix:///var/run/docker.sock --containerd=/run/containerd/containerd.sock"
    )


def test_sysconfig_options_are_rewritten_like_debian_docker_opts():
    facts = with_exec_start(load("stock"), "ExecStart=/usr/bin/dockerd-current $OPTIONS")
    facts = with_file(
        facts,
        "/etc/sysconfig/docker",
        b"# /etc/sysconfig/docker\nOPTIONS='--selinux-enabled -H tcp://0.0.0.0:2376 --log-driver=journald'\n",
    )
    p = plan(with_service(facts, environment_files=(("/etc/sysconfig/docker", True),)))
    assert p.change("/etc/sysconfig/docker").after == (
        b"# /etc/sysconfig/docker\nOPTIONS='--selinux-enabled --log-driver=journald'\n"
    )
    assert "log-driver" not in daemon_json(p)  # a flag on this host


def test_word_spans_match_systemd_word_splitting():
    text = '/usr/bin/dockerd --label "a b" \'c d\' e\\ f --x="y z"'
    words = [text[a:b] for a, b in word_spans(text)]
    assert [split_words(w)[0] for w in words] == split_words(text)


def test_every_insecure_flag_of_exec_start_goes_in_one_drop_in():
    line = (
        "ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375 -D --insecure-registry=x:5000 "
        "--containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
    )
    p = plan(with_exec_start(load("stock"), line))
    assert exec_start(p) == "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
    assert p.change(SERVICE_DROPIN).fixes == ("2.3", "2.5", "2.7", "REM-TCP")
    assert p.still_failing == ("2.9",)
