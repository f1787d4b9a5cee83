"""systemctl show output: list properties print one line per element, and none may be lost."""

from __future__ import annotations

import json

from remediate.checks import CheckContext
from remediate.facts import parse
from remediate.facts.dockerd_inputs import dockerd_inputs, effective_config
from remediate.plan.view import HostView
from remediate.policy import policy_for
from tests.facts_builder import fixture


def test_repeated_key_keeps_every_value_in_order():
    props = parse.systemctl_show("Listen=/run/docker.sock (Stream)\nSocketMode=0660\nListen=[::]:2375 (Stream)\n")
    assert parse.show_list(props, "Listen") == ["/run/docker.sock (Stream)", "[::]:2375 (Stream)"]
    assert props["SocketMode"] == "0660"


def test_single_and_missing_keys_read_as_before():
    props = parse.systemctl_show("ActiveState=active\nEnvironment=\nno equals sign\n")
    assert props == {"ActiveState": "active", "Environment": ""}
    assert parse.show_list(props, "Environment") == []
    assert parse.show_list(props, "Listen") == []


def test_socket_listen_of_the_captured_tcp_socket_unit_keeps_the_unix_listener():
    socket = parse.systemctl_show(fixture("tcp-socket-unit").build().command("socket").stdout)
    assert parse.socket_listen(socket) == ["/run/docker.sock", "[::]:2375"]


def test_socket_listen_keeps_only_stream_listeners_and_addresses_with_spaces():
    props = parse.systemctl_show(
        "Listen=/run/my docker.sock (Stream)\nListen=/run/docker.fifo (FIFO)\nListen=2375 (Stream)\n"
    )
    assert parse.socket_listen(props) == ["/run/my docker.sock", "2375"]


def test_every_reader_of_the_socket_sees_both_listeners():
    facts = fixture("tcp-socket-unit").build()
    ctx = CheckContext(facts, policy_for({}), host_name=facts.host)
    assert ctx.socket_listen == ["/run/docker.sock", "[::]:2375"]
    assert ctx.docker_socket_paths == {"/run/docker.sock"}
    assert dockerd_inputs(facts).socket_listen == ["/run/docker.sock", "[::]:2375"]
    assert HostView(facts, policy_for({})).socket_listen == ["/run/docker.sock", "[::]:2375"]


def test_a_socket_at_a_custom_path_is_the_one_checked():
    facts = fixture("tcp-socket-unit").socket(Listen="/srv/docker.sock (Stream)").build()
    ctx = CheckContext(facts, policy_for({}), host_name=facts.host)
    assert ctx.docker_socket_paths == {"/srv/docker.sock"}


def test_every_environment_file_is_read():
    base = fixture("stock").exec_start("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS $OPTIONS")
    service = base.build().command("service").stdout + "EnvironmentFiles=/etc/sysconfig/docker (ignore_errors=no)\n"
    facts = (
        base.command("service", service).add_file("/etc/sysconfig/docker", 'OPTIONS="-H tcp://0.0.0.0:2375"\n').build()
    )
    props = parse.systemctl_show(facts.command("service").stdout)
    assert parse.environment_files(props["EnvironmentFiles"]) == [
        ("/etc/default/docker", True),
        ("/etc/sysconfig/docker", False),
    ]
    inputs = dockerd_inputs(facts)
    assert list(inputs.environment_files) == ["/etc/default/docker", "/etc/sysconfig/docker"]
    exposures = effective_config(facts).tcp_exposures
    assert [(e.written, e.source.path) for e in exposures] == [("tcp://0.0.0.0:2375", "/etc/sysconfig/docker")]


def test_every_exec_start_command_is_seen():
    line = (
        "{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// ; ignore_errors=no ; "
        "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
    )
    props = parse.systemctl_show(f"ExecStart={line}\nExecStart={line.replace('-H fd://', '-D')}\n")
    assert parse.exec_start_commands(props["ExecStart"]) == ["/usr/sbin/dockerd -H fd://", "/usr/sbin/dockerd -D"]


# --- records split at "\n" only; values parsed as systemctl and the tools write them ----------
def test_a_container_with_a_unicode_line_break_in_a_value_is_not_lost():
    hidden = {"Id": "a", "Privileged": True, "Healthcheck": {"Test": ["CMD", "x\x85y\u2028z\x1e"]}}
    text = json.dumps(hidden, ensure_ascii=False) + "\n" + json.dumps({"Id": "b"}) + "\n"
    assert [c["Id"] for c in parse.json_lines(text)] == ["a", "b"]


def test_a_unicode_line_break_in_an_argv_word_does_not_make_up_a_property():
    text = (
        "ExecStart={ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd --label a\u2028ActiveState=active ; "
        "ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n"
        "ActiveState=failed\n"
    )
    props = parse.systemctl_show(text)
    assert props["ActiveState"] == "failed"
    assert parse.exec_start_commands(props["ExecStart"]) == ["/usr/sbin/dockerd --label a\u2028ActiveState=active"]


def test_non_ascii_digits_are_not_numbers():
    assert parse.id_ranges("dockremap:²:65536\nok:100000:65536\n") == {"ok": [(100000, 65536)]}
    assert parse.ss_listeners("LISTEN 0 4096 0.0.0.0:²³ 0.0.0.0:*\nLISTEN 0 4096 0.0.0.0:2375 0.0.0.0:*\n") == [
        parse.Listener("0.0.0.0", 2375, "")
    ]


def test_environment_reads_systemctl_quoting():
    shown = r'PLAIN=1 "OPTS=--label a=\$HOME --label \`id\`" "Q=say \"hi\" \\ back" "NL=a\nb\033c"' + " U=a\u3000b"
    assert parse.environment(shown) == {
        "PLAIN": "1",
        "OPTS": "--label a=$HOME --label `id`",
        "Q": 'say "hi" \\ back',
        "NL": "a\nb\x1bc",
        "U": "a\u3000b",
    }


def test_environment_file_paths_may_hold_spaces():
    value = "/etc/default/docker (ignore_errors=yes)\n/etc/my conf/docker (ignore_errors=no)"
    assert parse.environment_files(value) == [("/etc/default/docker", True), ("/etc/my conf/docker", False)]


def test_exec_start_keeps_the_unit_files_quoting_when_systemd_has_them_loaded():
    line = '/usr/sbin/dockerd -H fd:// "--label=it\'s mine" --label "a b"'
    base = fixture("stock").exec_start(
        "/usr/sbin/dockerd -H fd:// --label=it's mine --label a b"
    )  # as systemctl shows it
    facts = base.add_file("/lib/systemd/system/docker.service", f"[Service]\nExecStart={line}\n").build()
    labels = [f.value for f in effective_config(facts).command_line.given("labels")]
    assert labels == ["it's mine", "a b"]
    assert not [p for p in effective_config(facts).problems if p.kind == "UnitProblem"]


def test_exec_start_follows_systemd_when_the_unit_file_changed_without_daemon_reload():
    base = fixture("stock").exec_start("/usr/sbin/dockerd -H fd:// --debug")
    facts = base.add_file(
        "/lib/systemd/system/docker.service", "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n"
    ).build()
    assert effective_config(facts).command_line.given("debug")


def test_unit_files_and_audit_rules_split_at_newline_only():
    """U+0085 and U+2028 are line breaks to str.splitlines(), not to systemd or auditd."""
    from remediate.facts.units import unit_lines

    text = "[Service]\nExecStart=/usr/bin/dockerd --label=a\x85-H tcp://0.0.0.0:2375\u2028x\nUser=root\n"
    found = unit_lines("/etc/systemd/system/docker.service", text)
    assert [(u.key, u.line) for u in found] == [("ExecStart", 2), ("User", 3)]
    assert "-H tcp://0.0.0.0:2375" in found[0].value


def test_audit_rules_files_split_at_newline_only():
    from remediate.checks.context import CheckContext
    from remediate.facts.model import FileFact, HostFacts
    from remediate.policy import policy_for

    facts = HostFacts(host="h")
    rule = "-w /usr/bin/dockerd -k docker\x85-w /etc/docker -k docker\n"
    facts.files["/etc/audit/rules.d/docker.rules"] = FileFact(
        path="/etc/audit/rules.d/docker.rules", kind="file", mode=0o640, content=rule.encode()
    )
    rules = CheckContext(facts, policy_for({}, None), host_name="h").auditd_rules
    assert [(r.line, r.text) for r in rules] == [(1, rule.strip())]
