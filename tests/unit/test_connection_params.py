"""Connection vars → where and how we connect: pure parsing, no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from remediate.connection import ConnectOptions, become_of, connect, endpoint_of, parse_jump
from remediate.connection.local import LocalConnection
from remediate.errors import InventoryError


@dataclass
class H:
    name: str
    vars: dict = field(default_factory=dict)


def opts(tmp_path, config: str | None = None, **kw) -> ConnectOptions:
    path = None
    if config is not None:
        path = tmp_path / "ssh_config"
        path.write_text(config)
    return ConnectOptions(known_hosts=[tmp_path / "kh"], ssh_config=path, **kw)


def test_inventory_vars_win_over_ssh_config(tmp_path):
    config = "Host web1\n  HostName 10.9.9.9\n  User cfguser\n  Port 2200\n  IdentityFile ~/cfgkey\n"
    ep = endpoint_of(H("web1"), opts(tmp_path, config))
    assert (ep.host, ep.user, ep.port, ep.key_files) == ("10.9.9.9", "cfguser", 2200, [Path.home() / "cfgkey"])
    ep = endpoint_of(
        H("web1", {"ansible_user": "ops", "ansible_port": "2022", "ansible_ssh_private_key_file": "/k"}),
        opts(tmp_path, config),
    )
    assert (ep.user, ep.port, ep.key_files[0]) == ("ops", 2022, Path("/k"))
    assert ep.known_hosts_name == "[10.9.9.9]:2022"


def test_ansible_host_is_what_ssh_config_matches(tmp_path):
    config = "Host 10.0.0.5\n  User viaaddress\n  HostKeyAlias web-alias\n  StrictHostKeyChecking accept-new\n"
    ep = endpoint_of(H("web1", {"ansible_host": "10.0.0.5"}), opts(tmp_path, config))
    assert (ep.host, ep.user, ep.known_hosts_name, ep.strict_host_key_checking) == (
        "10.0.0.5",
        "viaaddress",
        "web-alias",
        "accept-new",
    )


def test_known_hosts_order_host_var_first(tmp_path):
    config = "Host *\n  UserKnownHostsFile /cfg/a /cfg/b\n"
    ep = endpoint_of(H("h", {"remediate_known_hosts": ["/var/a", "/var/b"]}), opts(tmp_path, config))
    assert ep.known_hosts == [Path("/var/a"), Path("/var/b"), Path("/cfg/a"), Path("/cfg/b"), tmp_path / "kh"]
    ep = endpoint_of(H("h", {"remediate_known_hosts": "/single"}), opts(tmp_path))
    assert ep.known_hosts[0] == Path("/single")


def test_accept_new_option_overrides_ssh_config(tmp_path):
    config = "Host *\n  StrictHostKeyChecking yes\n"
    assert (
        endpoint_of(H("h"), opts(tmp_path, config, accept_new_host_keys=True)).strict_host_key_checking == "accept-new"
    )


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("root@127.0.0.1:2200", ("root", "127.0.0.1", 2200)),
        ("bastion", (None, "bastion", None)),
        ("ssh://me@b.example:22", ("me", "b.example", 22)),
        ("u@[::1]:2222", ("u", "::1", 2222)),
        ("[fe80::1]", (None, "fe80::1", None)),
        ("::1", (None, "::1", None)),
        ("a@b@host", ("a@b", "host", None)),
    ],
)
def test_parse_jump(spec, expected):
    assert parse_jump("h", spec) == expected


def test_bad_jump_and_port_are_inventory_errors(tmp_path):
    with pytest.raises(InventoryError):
        parse_jump("h", "user@:22")
    for port in ("ssh", 0, 70000, True):
        with pytest.raises(InventoryError, match="invalid port"):
            endpoint_of(H("h", {"ansible_port": port}), opts(tmp_path))


def test_jump_chain_in_order_with_inventory_names(tmp_path):
    inventory = {"bastion": H("bastion", {"ansible_host": "10.1.1.1", "ansible_user": "jumper", "ansible_port": 2201})}
    host = H(
        "db",
        {
            "ansible_host": "10.2.2.2",
            "ansible_ssh_private_key_file": "/k",
            "remediate_proxy_jump": "bastion, edge@10.3.3.3:2202",
        },
    )
    ep = endpoint_of(host, opts(tmp_path), inventory.get)
    # ssh -J a,b: a first, then b, then the target
    assert ep.jump.address == "edge@10.3.3.3:2202" and ep.jump.key_files == [Path("/k")]
    assert ep.jump.jump.address == "jumper@10.1.1.1:2201" and ep.jump.jump.jump is None


def test_jump_loop_is_refused(tmp_path):
    inventory = {"a": H("a", {"remediate_proxy_jump": "b"}), "b": H("b", {"remediate_proxy_jump": "a"})}
    with pytest.raises(InventoryError, match="loop"):
        endpoint_of(inventory["a"], opts(tmp_path), inventory.get)


def test_proxy_command_is_refused_rather_than_ignored(tmp_path):
    with pytest.raises(InventoryError, match="ProxyCommand"):
        endpoint_of(H("h"), opts(tmp_path, "Host *\n  ProxyCommand nc %h %p\n"))


def test_become_vars_and_password_override(tmp_path):
    host = H("h", {"ansible_become": "yes", "ansible_become_user": "docker", "ansible_become_pass": "inv"})
    assert become_of(host, opts(tmp_path)).password == "inv"
    assert become_of(host, opts(tmp_path, become_password="typed")).password == "typed"
    assert become_of(H("h"), opts(tmp_path)).user == "root"
    with pytest.raises(InventoryError, match="only sudo"):
        become_of(H("h", {"ansible_become_method": "su"}), opts(tmp_path))


def test_local_connection_choice(tmp_path):
    conn = connect(H("localhost", {"ansible_become": True}), opts(tmp_path))
    assert isinstance(conn, LocalConnection) and conn.become_by_default
    assert isinstance(connect(H("box", {"ansible_connection": "local"}), opts(tmp_path)), LocalConnection)
    with pytest.raises(InventoryError, match="unsupported ansible_connection"):
        connect(H("box", {"ansible_connection": "winrm"}), opts(tmp_path))


def test_secrets_stay_out_of_reprs(tmp_path):
    options = opts(tmp_path, become_password="TOPSECRET-1")
    ep = endpoint_of(H("h", {"ansible_password": "TOPSECRET-2"}), options)
    conn = connect(H("localhost", {"ansible_become_password": "TOPSECRET-3"}), options)
    for text in (repr(options), repr(ep), repr(conn), str(conn)):
        assert "TOPSECRET" not in text
