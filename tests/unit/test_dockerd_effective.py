"""The effective dockerd configuration built from captured-like host facts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd import DockerdInputs, EffectiveConfig, version_tuple
from remediate.facts import typed
from remediate.facts.model import CommandFact

DEBIAN_UNIT = "/lib/systemd/system/docker.service"
DEBIAN_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
DROP_IN = "/etc/systemd/system/docker.service.d/hosts.conf"
DEFAULT_DOCKER = b"""\
# Here in Debian, this file is sourced by:
#   - /etc/init.d/docker (sysvinit)
#   - systemd's docker.service

# Use of this file for configuring your Docker daemon is discouraged.

DOCKER_OPTS="-H tcp://0.0.0.0:2375"
"""
TCP_HOSTS_JSON = b"""\
{
  "hosts": [
    "unix:///var/run/docker.sock",
    "tcp://0.0.0.0:2375"
  ]
}
"""


def build(
    daemon_json: bytes | None = None, *, version="20.10.24+dfsg1", exec_start=(DEBIAN_EXEC,), **kwargs
) -> EffectiveConfig:
    """`journal_tail`: the journal as journalctl prints it, parsed as gather parses the `journal` fact."""
    if "journal_tail" in kwargs:
        kwargs["journal"] = typed.journal(CommandFact(0, kwargs.pop("journal_tail")))
    return EffectiveConfig.build(
        DockerdInputs(version=version, daemon_json=daemon_json, exec_start=list(exec_start), **kwargs)
    )


def kinds(config: EffectiveConfig) -> list[str]:
    return [p.kind for p in config.problems]


def the(config: EffectiveConfig, kind: str):
    found = [p for p in config.problems if p.kind == kind]
    assert len(found) == 1, config.problems
    return found[0]


def test_stock_debian_host():
    config = build()
    assert config.problems == () and config.would_start and config.predicted_error is None
    assert config.tcp_exposures == ()
    assert config.value("hosts") == ["fd://"]
    assert config.values["icc"].origin == "default" and config.value("icc") is True
    assert config.value("seccomp-profile") == "default"
    assert config.key_table == "v20.10.27"
    json.dumps(config.to_dict())


def test_debian_docker_opts_tcp_exposure():
    config = build(environment_files={"/etc/default/docker": DEFAULT_DOCKER})
    assert config.problems == ()
    [exposure] = config.tcp_exposures
    assert (exposure.address, exposure.port, exposure.tls, exposure.origin) == ("0.0.0.0", 2375, "none", "-H flag")
    assert str(exposure.source) == "/etc/default/docker:7 (DOCKER_OPTS)"
    assert exposure.all_interfaces and exposure.served and not exposure.loopback
    assert config.values["hosts"].origin == "flag"


def test_tcp_in_daemon_json_with_drop_in_without_h():
    config = build(
        TCP_HOSTS_JSON,
        exec_start=[DEBIAN_EXEC, "", "/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"],
        exec_start_source=DROP_IN,
    )
    assert config.problems == ()
    [exposure] = config.tcp_exposures
    assert exposure.origin == "daemon.json hosts"
    assert str(exposure.source) == "/etc/docker/daemon.json:4"
    assert config.values["hosts"].origin == "file"


def test_tcp_in_daemon_json_with_h_fd_conflicts_like_dockerd():
    config = build(TCP_HOSTS_JSON)
    conflict = the(config, "Conflict")
    assert conflict.fatal and conflict.key == "hosts"
    assert (conflict.flag_value, conflict.file_value) == (
        ["fd://"],
        ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"],
    )
    assert config.predicted_error == conflict.message and "keep only one" in conflict.message
    assert not config.would_start
    assert {str(e) for e in conflict.evidence} == {f"{DEBIAN_UNIT} (ExecStart)", "/etc/docker/daemon.json:2"}


@pytest.mark.parametrize("file_value", ['""', "null", '"info"', "[]", "false", "1e6"])
def test_presence_alone_conflicts(file_value):
    config = build(f'{{"log-level": {file_value}}}'.encode(), exec_start=[DEBIAN_EXEC + " --log-level=info"])
    conflict = the(config, "Conflict")
    assert conflict.fatal and (conflict.flag_value, conflict.file_value) == ("info", json.loads(file_value))


def test_several_conflicts_in_flag_name_order():
    config = build(
        b'{"debug": true, "hosts": ["fd://"], "labels": ["a=b"]}', exec_start=[DEBIAN_EXEC + " --label a=b -D"]
    )
    assert [p.key for p in config.problems if p.kind == "Conflict"] == ["debug", "hosts", "labels"]


def test_multi_line_hosts_and_listen_stream_exposures():
    config = build(
        TCP_HOSTS_JSON,
        exec_start=["/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock"],
        socket_listen=["/run/docker.sock", "2375", "127.0.0.1:2376", "[::1]:2377"],
        socket_listen_source="/etc/systemd/system/docker.socket.d/tcp.conf",
    )
    found = {(e.origin, e.address, e.port): e for e in config.tcp_exposures}
    assert set(found) == {
        ("daemon.json hosts", "0.0.0.0", 2375),
        ("docker.socket ListenStream", "*", 2375),
        ("docker.socket ListenStream", "127.0.0.1", 2376),
        ("docker.socket ListenStream", "::1", 2377),
    }
    listen = found[("docker.socket ListenStream", "*", 2375)]
    assert not listen.served and any("fd://" in n for n in listen.notes)
    assert str(listen.source) == "/etc/systemd/system/docker.socket.d/tcp.conf (ListenStream)"
    assert found[("docker.socket ListenStream", "::1", 2377)].loopback


def test_listen_stream_served_through_fd_without_tls():
    config = build(socket_listen=["/run/docker.sock", "2375"])
    [exposure] = config.tcp_exposures
    assert exposure.served and exposure.tls == "none" and exposure.all_interfaces


def test_tlsverify_in_daemon_json_applies_to_every_tcp_listener():
    config = build(
        b'{"tlsverify": true, "tlscert": "/etc/docker/cert.pem", "tlskey": "/etc/docker/key.pem"}',
        environment_files={"/etc/default/docker": DEFAULT_DOCKER},
        socket_listen=["2376"],
    )
    assert {e.tls for e in config.tcp_exposures} == {"tlsverify"}
    assert config.tls.ca is None
    assert any("public CA" in n for n in config.tcp_exposures[0].notes)
    assert config.value("tls") is True and config.values["tls"].origin == "file"


def test_tlsverify_false_still_turns_tls_on_without_verification():
    config = build(
        b'{"tlsverify": false, "tlscacert": "/etc/docker/ca.pem"}',
        environment_files={"/etc/default/docker": DEFAULT_DOCKER},
    )
    [exposure] = config.tcp_exposures
    assert exposure.tls == "tls"
    assert any("any client is accepted" in n for n in exposure.notes)


def test_tls_flag_uses_default_ca_path_and_environment():
    config = build(
        exec_start=[DEBIAN_EXEC + " --tlsverify -H tcp://0.0.0.0:2376"],
        environment={"DOCKER_CERT_PATH": "/etc/docker/tls"},
    )
    assert config.tls.mode == "tlsverify" and config.tls.ca == "/etc/docker/tls/ca.pem"
    config = build(exec_start=[DEBIAN_EXEC + " -H tcp://0.0.0.0:2376"], environment={"DOCKER_TLS_VERIFY": "1"})
    assert config.tls.mode == "tlsverify" and config.values["tlsverify"].origin == "environment"


def test_log_level_only_as_a_flag():
    config = build(exec_start=[DEBIAN_EXEC + " --log-level=debug"])
    setting = config.values["log-level"]
    assert (setting.value, setting.origin, str(setting.source)) == ("debug", "flag", f"{DEBIAN_UNIT} (ExecStart)")
    assert config.effective_log_level == "debug"


def test_debug_overrides_log_level():
    config = build(b'{"debug": true, "log-level": "info"}')
    assert config.value("log-level") == "info" and config.effective_log_level == "debug"


def test_cgroup_parent_only_in_daemon_json():
    config = build(b'{\n  "icc": false,\n  "cgroup-parent": "/docker-ci"\n}')
    setting = config.values["cgroup-parent"]
    assert (setting.value, setting.origin, str(setting.source)) == ("/docker-ci", "file", "/etc/docker/daemon.json:3")
    assert config.problems == ()


def test_icc_false_with_equals_and_with_space():
    assert build(exec_start=[DEBIAN_EXEC + " --icc=false"]).value("icc") is False
    config = build(exec_start=[DEBIAN_EXEC + " --icc false"])
    assert config.value("icc") is True
    error = the(config, "FlagError")
    assert error.fatal and "stray argument 'false'" in error.message
    assert "--icc=false" in error.message


def test_quotes_in_exec_start_and_docker_opts():
    config = build(
        exec_start=[DEBIAN_EXEC + ' --label "rack=r 1"'],
        environment_files={"/etc/default/docker": b"DOCKER_OPTS=\"--label 'a b' -H tcp://1.2.3.4:2376\"\n"},
    )
    assert config.value("labels") == ["a b", "rack=r 1"]
    [exposure] = config.tcp_exposures
    assert (exposure.address, exposure.port, str(exposure.source)) == (
        "1.2.3.4",
        2376,
        "/etc/default/docker:1 (DOCKER_OPTS)",
    )


def test_braced_docker_opts_is_a_single_argument():
    braced = [DEBIAN_EXEC.replace("$DOCKER_OPTS", "${DOCKER_OPTS}")]
    one = build(exec_start=braced, environment_files={"/etc/default/docker": DEFAULT_DOCKER})
    [exposure] = one.tcp_exposures
    assert exposure.written == " tcp://0.0.0.0:2375" and one.problems == ()
    two = build(
        exec_start=braced, environment_files={"/etc/default/docker": b'DOCKER_OPTS="-H tcp://0.0.0.0:2375 --debug"'}
    )
    assert the(two, "FlagError").arg == "-H tcp://0.0.0.0:2375 --debug"
    assert "invalid port ':2375 --debug' after host" in two.predicted_error
    split = build(environment_files={"/etc/default/docker": b'DOCKER_OPTS="-H tcp://0.0.0.0:2375 --debug"'})
    assert split.problems == () and split.value("debug") is True
    assert "stray argument ''" in build(exec_start=braced).predicted_error


def test_export_in_environment_file_does_not_set_the_variable():
    config = build(environment_files={"/etc/default/docker": b'export DOCKER_OPTS="-H tcp://0.0.0.0:2375"\n'})
    assert config.tcp_exposures == ()
    assert the(config, "UnitProblem").detail == "invalid-name"


def test_unknown_key_message():
    config = build(b'{\n  "log-level": "info",\n  "bogus-key": 1,\n  "another": true\n}')
    unknown = [p for p in config.problems if p.kind == "UnknownKey"]
    assert [p.key for p in unknown] == ["another", "bogus-key"]
    assert all(p.fatal and "is not a dockerd option" in p.message for p in unknown)
    assert str(unknown[1].evidence[0]) == "/etc/docker/daemon.json:3"
    assert "bogus-key" not in config.values


@pytest.mark.parametrize(
    "key, instead",
    [
        ("host", "hosts"),
        ("exec-opt", "exec-opts"),
        ("label", "labels"),
        ("log-opt", "log-opts"),
        ("insecure-registry", "insecure-registries"),
        ("registry-mirror", "registry-mirrors"),
        ("authorization-plugin", "authorization-plugins"),
        ("storage-opt", "storage-opts"),
        ("default-ulimit", "default-ulimits"),
        ("containerd-plugins-namespace", None),
    ],
)
def test_ignored_singular_keys(key, instead):
    config = build(f'{{"{key}": "x"}}'.encode())
    ignored = the(config, "IgnoredKey")
    assert (ignored.key, ignored.instead, ignored.fatal) == (key, instead, False)
    assert config.would_start and key not in config.values


def test_top_level_http_proxy_ignored_on_23_and_unknown_on_20():
    assert the(build(b'{"http-proxy": "http://p:3128"}', version="24.0.7"), "IgnoredKey").instead == "proxies"
    assert the(build(b'{"http-proxy": "http://p:3128"}'), "UnknownKey").fatal


def test_proxies_object_is_unsupported_on_20_10():
    problem = the(build(b'{"proxies": {"http-proxy": "http://p:3128", "no-proxy": "local"}}'), "UnsupportedForVersion")
    assert problem.key == "proxies" and "v23.0.18" in problem.supported_in and problem.fatal
    assert build(b'{"proxies": {"http-proxy": "http://p:3128"}}', version="24.0.7").problems == ()


@pytest.mark.parametrize(
    "text, path, expected",
    [
        (b'{"log-opts": {"max-file": 3}}', "log-opts.max-file", "string"),
        (b'{"debug": "true"}', "debug", "bool"),
        (b'{"hosts": "tcp://0.0.0.0:2375"}', "hosts", "list"),
        (b'{"mtu": 1500.5}', "mtu", "int"),
        (b'{"labels": ["a=b", 1]}', "labels[1]", "string"),
    ],
)
def test_wrong_types(text, path, expected):
    problem = the(build(text), "WrongType")
    assert (problem.path, problem.expected, problem.fatal) == (path, expected, True)


def test_null_is_not_a_wrong_type():
    assert "WrongType" not in kinds(build(b'{"debug": null, "log-opts": {"max-size": null}}'))


def test_seccomp_builtin_gated_by_version():
    old = the(build(b'{"seccomp-profile": "builtin"}'), "InvalidValue")
    assert old.fatal and "23.0" in old.message
    assert build(b'{"seccomp-profile": "builtin"}', version="23.0.6").problems == ()
    assert build(version="23.0.6").value("seccomp-profile") == "builtin"


def test_key_only_in_29_on_20_10():
    problem = the(build(b'{\n "firewall-backend": "nftables"\n}'), "UnsupportedForVersion")
    assert problem.supported_in == ("docker-v29.7.2",) and problem.version == "20.10.24"
    assert str(problem.evidence[0]) == "/etc/docker/daemon.json:2"
    assert build(b'{"firewall-backend": "nftables"}', version="29.1.0").problems == ()


def test_key_removed_in_later_release():
    problem = the(build(b'{"graph": "/srv/docker"}', version="25.0.3"), "UnsupportedForVersion")
    assert problem.supported_in == ("v20.10.27", "v23.0.18")


@pytest.mark.parametrize(
    "text, version, key",
    [
        (b'{"icc": false, "iptables": false}', "20.10.24", "icc"),
        (b'{"ip6tables": true}', "20.10.24", "ip6tables"),
        (b'{"icc": false, "ipv6": true, "fixed-cidr-v6": "fd00:1::/64", "ip6tables": false}', "28.5.2", "icc"),
        (b'{"log-level": "verbose"}', "20.10.24", "log-level"),
        (b'{"registry-mirrors": ["mirror.example.com"]}', "20.10.24", "registry-mirrors"),
        (b'{"exec-opts": ["native.cgroupdriver"]}', "20.10.24", "exec-opts"),
    ],
)
def test_invalid_values(text, version, key):
    problem = the(build(text, version=version), "InvalidValue")
    assert problem.key == key and problem.fatal and str(problem.evidence[0]).startswith("/etc/docker/daemon.json")


def test_valid_counterparts_are_quiet():
    assert build(b'{"icc": false}').problems == ()
    assert build(b'{"ip6tables": true, "experimental": true}').problems == ()
    assert build(b'{"ip6tables": true}', version="27.5.1").problems == ()
    assert build(b'{"registry-mirrors": ["https://mirror.example.com"], "log-level": "WARN"}').problems == ()


def test_icc_false_by_flag_and_iptables_false_in_file():
    problem = the(build(b'{"iptables": false}', exec_start=[DEBIAN_EXEC + " --icc=false"]), "InvalidValue")
    assert problem.message.endswith("icc false needs iptables: with iptables false as well dockerd refuses to start")
    assert str(problem.evidence[0]) == f"{DEBIAN_UNIT} (ExecStart)"


@pytest.mark.parametrize(
    "text, reason",
    [
        (b"\xef\xbb\xbf{}", "bom"),
        (b"", "empty"),
        (b'{\n "debug": true,\n}', "syntax"),
        (b"\x7fELF\x02\x01\x01\x00binary", "syntax"),
    ],
)
def test_unreadable_daemon_json_predicts_the_error(text, reason):
    config = build(text)
    problem = the(config, "SyntaxError")
    assert problem.reason == reason and not config.would_start
    assert config.predicted_error == problem.message


def test_duplicate_keys_in_effective_config():
    config = build(b'{\n "live-restore": false,\n "live-restore": true\n}')
    assert the(config, "DuplicateKey").lines == (2, 3)
    assert config.values["live-restore"].value is True
    assert str(config.values["live-restore"].source) == "/etc/docker/daemon.json:3"


def test_config_file_flag():
    config = build(b"{}", exec_start=[DEBIAN_EXEC + " --config-file /etc/docker/custom.json"])
    # inputs holding another file than the flag names: the path analysed is the one whose bytes were given
    assert config.daemon_json_path == "/etc/docker/daemon.json"
    assert the(config, "UnitProblem").detail == "config-file-mismatch"
    named = build(
        b"{}",
        exec_start=[DEBIAN_EXEC + " --config-file /etc/docker/custom.json"],
        daemon_json_path="/etc/docker/custom.json",
    )
    assert named.daemon_json_path == "/etc/docker/custom.json" and "UnitProblem" not in kinds(named)
    missing = build(None, exec_start=[DEBIAN_EXEC + " --config-file=/etc/docker/daemon.json"])
    assert the(missing, "InvalidValue").key == "config-file" and "does not exist" in missing.predicted_error


def test_drift_live_restore_restart_pending():
    config = build(
        b'{\n  "live-restore": true\n}',
        live_info={"LiveRestoreEnabled": False, "Debug": False},
        live_cmdline=["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"],
    )
    [drift] = config.drift
    assert (drift.key, drift.configured, drift.running, drift.reloadable) == ("live-restore", True, False, True)
    assert str(drift.configured_source) == "/etc/docker/daemon.json:2"
    assert "pending" in drift.message


def test_drift_from_command_line_and_security_options():
    config = build(
        b'{"userns-remap": "default", "registry-mirrors": ["https://m.example"]}',
        environment_files={"/etc/default/docker": DEFAULT_DOCKER},
        live_cmdline=["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock", "--debug"],
        live_info={
            "SecurityOptions": ["name=apparmor", "name=seccomp,profile=default"],
            "RegistryConfig": {
                "Mirrors": ["https://m.example/"],
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {"docker.io": {"Secure": True}},
            },
        },
    )
    drift = {d.key: d for d in config.drift}
    assert set(drift) == {"hosts", "debug", "userns-remap"}
    assert drift["hosts"].configured == ["fd://", "tcp://0.0.0.0:2375"] and drift["hosts"].running == ["fd://"]
    assert drift["debug"].configured is None and drift["debug"].running is True
    assert drift["userns-remap"].running is False and not drift["userns-remap"].reloadable


def test_no_drift_when_everything_matches():
    config = build(
        b'{"insecure-registries": ["10.0.0.0/8", "reg:5000"], "debug": true}',
        live_cmdline=["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"],
        live_info={
            "Debug": True,
            "LiveRestoreEnabled": False,
            "LoggingDriver": "json-file",
            "SecurityOptions": ["name=seccomp,profile=default"],
            "ExperimentalBuild": False,
            "Labels": [],
            "RegistryConfig": {
                "Mirrors": None,
                "InsecureRegistryCIDRs": ["10.0.0.0/8", "127.0.0.0/8"],
                "IndexConfigs": {"reg:5000": {"Secure": False}, "docker.io": {"Secure": True}},
            },
        },
    )
    assert config.drift == ()


def test_drift_authorization_plugin_not_loaded():
    config = build(
        b'{"authorization-plugins": ["no-such-authz-plugin"]}',
        live_info={"Plugins": {"Authorization": None, "Volume": ["local"]}},
    )
    [drift] = config.drift
    assert (drift.key, drift.configured, drift.running) == ("authorization-plugins", ["no-such-authz-plugin"], [])
    loaded = build(b'{"authorization-plugins": ["authz"]}', live_info={"Plugins": {"Authorization": ["authz"]}})
    assert loaded.drift == ()


@pytest.mark.parametrize("state", ["active", "locked", "pending", "error"])
def test_live_restore_on_a_swarm_node_fails_next_start(state):
    config = build(
        b'{"live-restore": true}', live_info={"Swarm": {"LocalNodeState": state}, "LiveRestoreEnabled": True}
    )
    assert the(config, "InvalidValue").key == "live-restore"
    assert not build(b'{"live-restore": true}', live_info={"Swarm": {"LocalNodeState": "inactive"}}).problems


DOCKERD_SAID = (
    "unable to configure the Docker daemon with file /etc/docker/daemon.json: "
    "invalid character '}' looking for beginning of object key string"
)
JOURNAL = f"""\
Jan 10 09:12:01 web-1 systemd[1]: Starting Docker Application Container Engine...
Jan 10 09:12:01 web-1 dockerd[812]: {DOCKERD_SAID}
Jan 10 09:12:01 web-1 systemd[1]: docker.service: Main process exited, code=exited, status=1/FAILURE
Jan 10 09:12:01 web-1 systemd[1]: docker.service: Failed with result 'exit-code'.
Jan 10 09:12:01 web-1 systemd[1]: Failed to start Docker Application Container Engine.
Jan 10 09:12:03 web-1 systemd[1]: docker.service: Start request repeated too quickly.
"""


def test_down_reason_from_journal():
    config = build(b'{\n  "log-level": "info",\n}\n', active_state="failed", journal_tail=JOURNAL)
    reason = config.down_reason
    assert reason.state == "failed"
    assert reason.message == DOCKERD_SAID
    assert reason.line.startswith("Jan 10 09:12:01 web-1 dockerd[812]: ")
    assert config.predicted_error.startswith("/etc/docker/daemon.json:3:1: ")  # ours, placed; the journal's beside it


@pytest.mark.parametrize(
    "journal, message",
    [
        (
            (
                'dockerd[9]: time="2024-01-10T09:12:01Z" level=fatal msg="Error starting daemon: pid file found, '
                'ensure docker is not running or delete /var/run/docker.pid"'
            ),
            "Error starting daemon: pid file found, ensure docker is not running or delete /var/run/docker.pid",
        ),
        (
            (
                "dockerd[9]: failed to start daemon: Error initializing network controller: "
                "error obtaining controller instance"
            ),
            "failed to start daemon: Error initializing network controller: error obtaining controller instance",
        ),
        ("dockerd[9]: unknown flag: --nope\ndockerd[9]: See 'dockerd --help'.", "unknown flag: --nope"),
        ("systemd[1]: docker.service: Start request repeated too quickly.", "Start request repeated too quickly."),
        ("", None),
    ],
)
def test_down_reason_patterns(journal, message):
    assert build(active_state="failed", journal_tail=journal).down_reason.message == message


def test_down_reason_is_none_while_active():
    assert build(journal_tail=JOURNAL).down_reason is None


def test_dockerd_missing():
    config = EffectiveConfig.build(DockerdInputs(version=None))
    assert config.version_tuple is None and config.key_table is None and config.problems == ()
    json.dumps(config.to_dict())


def test_exec_start_of_a_wrapper_is_not_parsed():
    config = build(exec_start=["/usr/bin/dockerd-rootless.sh --bogus"])
    assert the(config, "UnitProblem").detail == "not-dockerd" and config.would_start


def test_unbalanced_quotes_in_exec_start():
    config = build(exec_start=['/usr/sbin/dockerd -H fd:// --label "a'])
    assert the(config, "UnitProblem").fatal


def test_systemd_exec_prefixes():
    assert build(exec_start=["-/usr/sbin/dockerd -D"]).value("debug") is True
    assert build(exec_start=["@/usr/sbin/dockerd dockerd -D"]).value("debug") is True
    plain = build(exec_start=[":/usr/sbin/dockerd $DOCKER_OPTS"], environment={"DOCKER_OPTS": "-D"})
    assert "stray argument '$DOCKER_OPTS'" in plain.predicted_error  # ':' expands no variable


def test_to_dict_round_trips_through_json():
    config = build(
        TCP_HOSTS_JSON,
        environment_files={"/etc/default/docker": DEFAULT_DOCKER},
        socket_listen=["2375"],
        live_info={"LiveRestoreEnabled": True},
        active_state="failed",
        journal_tail=JOURNAL,
    )
    out = json.loads(json.dumps(config.to_dict()))
    assert out["problems"][0]["kind"] == "Conflict"
    assert out["tcp_exposures"][0]["source"]["text"] == "/etc/default/docker:7 (DOCKER_OPTS)"
    assert out["values"]["hosts"]["origin"] == "flag"
    assert out["down_reason"]["state"] == "failed"
    assert out["drift"][0]["key"] == "live-restore"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("Docker version 20.10.24+dfsg1, build 297e128", (20, 10, 24)),
        ("5:24.0.7-1~debian.12~bookworm", (24, 0, 7)),
        ("26.1.5+dfsg1-9+b9", (26, 1, 5)),
        ("1.13.1", (1, 13, 1)),
        ("29.0", (29, 0, 0)),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_old_and_future_versions_pick_the_nearest_key_table():
    assert build(version="19.03.13").key_table == "v20.10.27"
    assert build(version="26.0.0").key_table == "v26.1.5"
    assert build(version="31.2.0").key_table == "docker-v29.7.2"


KEYS = [
    "hosts",
    "debug",
    "log-level",
    "log-opts",
    "labels",
    "icc",
    "iptables",
    "ip6tables",
    "tlsverify",
    "tls",
    "tlscacert",
    "registry-mirrors",
    "insecure-registries",
    "seccomp-profile",
    "live-restore",
    "userns-remap",
    "exec-opts",
    "default-ulimits",
    "proxies",
    "label",
    "bogus",
    "mtu",
    "default-address-pools",
]
any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.sampled_from(KEYS), any_json, max_size=6),
    st.lists(
        st.sampled_from(["-D", "--icc=false", "-H", "tcp://0.0.0.0:2375", "--tlsverify", "--label", "x", "--bogus"]),
        max_size=5,
    ),
    st.sampled_from(["20.10.24", "23.0.1", "29.0.0", None]),
    st.none()
    | st.dictionaries(
        st.sampled_from(["Debug", "LiveRestoreEnabled", "SecurityOptions", "RegistryConfig", "Labels", "Swarm"]),
        any_json,
        max_size=4,
    ),
)
def test_build_never_crashes(daemon_json, extra_args, version, live_info):
    config = build(
        json.dumps(daemon_json).encode(),
        version=version,
        exec_start=[DEBIAN_EXEC + " " + " ".join(extra_args)],
        environment={"DOCKER_OPTS": "-H tcp://1.2.3.4:2376"},
        socket_listen=["2375"],
        live_info=live_info,
        live_cmdline=["/usr/sbin/dockerd", "-H", "fd://"],
        active_state="failed",
    )
    json.dumps(config.to_dict())
    assert config.would_start == (config.predicted_error is None)
