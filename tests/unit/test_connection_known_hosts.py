"""Strict host-key policies on real paramiko keys and known_hosts files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import paramiko
import pytest

from remediate.connection.known_hosts import (
    AcceptNewHostKeyPolicy,
    KnownHosts,
    StrictHostKeyPolicy,
    fingerprint,
    host_key_policy,
    lookup_name,
)
from remediate.errors import HostKeyRejected

NAME = "[127.0.0.1]:2222"


@pytest.fixture(scope="module")
def keys():
    return paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate(), paramiko.RSAKey.generate(1024)


def line(name, key, marker=""):
    return f"{marker + ' ' if marker else ''}{name} {key.get_name()} {key.get_base64()}\n"


def check(files, key, mode="yes", name=NAME):
    policy = host_key_policy(mode, KnownHosts(files), name, "web1")
    policy.missing_host_key(None, name, key)
    return policy


def test_lookup_name_uses_the_port_form_off_22():
    assert lookup_name("Example.COM", 22) == "example.com"
    assert lookup_name("127.0.0.1", 2222) == NAME


def test_recorded_key_passes(tmp_path, keys):
    key, _, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text("# comment\n\n" + line("other", keys[1]) + line(NAME, key))
    assert check([kh], key).accepted


def test_unknown_key_refused_with_advice(tmp_path, keys):
    key, _, _ = keys
    with pytest.raises(HostKeyRejected) as info:
        check([tmp_path / "none"], key)
    message = str(info.value)
    assert "web1" in message and "unknown" in message and fingerprint(key) in message
    assert "ssh-keyscan -p 2222 127.0.0.1" in message and "--accept-new-host-keys" in message


def test_changed_key_refused_loudly_even_with_accept_new(tmp_path, keys):
    key, other, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text("# comment\n" + line(NAME, other))
    for mode in ("yes", "accept-new", "no", "off"):
        with pytest.raises(HostKeyRejected) as info:
            check([kh], key, mode)
        message = str(info.value)
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in message
        assert fingerprint(key) in message and f"{kh}:2" in message and fingerprint(other) in message
    assert kh.read_text() == "# comment\n" + line(NAME, other)


def test_a_key_of_an_unrecorded_type_counts_as_changed(tmp_path, keys):
    ecdsa, _, rsa = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line(NAME, rsa))
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        check([kh], ecdsa, "accept-new")


def test_accept_new_records_in_the_first_writable_file_then_trusts(tmp_path, keys):
    key, _, _ = keys
    read_only = tmp_path / "ro" / "known_hosts"
    read_only.parent.mkdir()
    read_only.write_text("")
    read_only.parent.chmod(0o500)
    read_only.chmod(0o400)
    fresh = tmp_path / "sub" / "known_hosts"
    try:
        policy = check([read_only, fresh], key, "accept-new")
    finally:
        read_only.parent.chmod(0o700)
    assert isinstance(policy, AcceptNewHostKeyPolicy) and policy.accepted
    if os.geteuid() != 0:  # root can write anywhere; then the first file is the one used
        assert read_only.read_text() == ""
        assert fresh.read_text() == line(NAME, key)
    check([read_only, fresh], key, "yes")


def test_accept_new_keeps_a_file_without_final_newline_intact(tmp_path, keys):
    key, other, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line("other", other).rstrip("\n"))
    check([kh], key, "accept-new")
    assert kh.read_text() == line("other", other) + line(NAME, key)


def test_accept_new_without_any_file_refuses(keys):
    with pytest.raises(HostKeyRejected, match="no writable known_hosts"):
        check([], keys[0], "accept-new")


def test_hashed_entries_match(tmp_path, keys):
    key, _, _ = keys
    salt = os.urandom(20)
    digest = hmac.new(salt, b"[10.0.0.1]:2200", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    kh = tmp_path / "known_hosts"
    kh.write_text(line(hashed, key))
    check([kh], key, name="[10.0.0.1]:2200")
    with pytest.raises(HostKeyRejected, match="unknown"):
        check([kh], key, name="[10.0.0.2]:2200")


def test_patterns_wildcards_negation_and_case(tmp_path, keys):
    key, _, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line("*.Example.com,!bad.example.com", key) + line("[127.0.0.?]:2222", key))
    check([kh], key, name="web.example.com")
    check([kh], key, name="WEB.EXAMPLE.COM")
    check([kh], key, name="[127.0.0.1]:2222")
    for name in ("bad.example.com", "example.com", "[127.0.0.10]:2222"):
        with pytest.raises(HostKeyRejected, match="unknown"):
            check([kh], key, name=name)


def test_revoked_key_is_refused_even_with_accept_new(tmp_path, keys):
    key, _, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line("*", key, "@revoked"))
    with pytest.raises(HostKeyRejected, match="@revoked"):
        check([kh], key, "accept-new")
    assert kh.read_text() == line("*", key, "@revoked")


def test_cert_authority_lines_never_match(tmp_path, keys):
    key, _, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line("*", key, "@cert-authority"))
    with pytest.raises(HostKeyRejected, match="unknown"):
        check([kh], key)


def test_policy_mapping_of_strict_host_key_checking_values():
    known = KnownHosts([])
    assert type(host_key_policy(None, known, NAME, "h")) is StrictHostKeyPolicy
    assert type(host_key_policy("ask", known, NAME, "h")) is StrictHostKeyPolicy
    assert type(host_key_policy("nonsense", known, NAME, "h")) is StrictHostKeyPolicy
    assert type(host_key_policy("Accept-New", known, NAME, "h")) is AcceptNewHostKeyPolicy
    assert type(host_key_policy("no", known, NAME, "h")) is AcceptNewHostKeyPolicy


def test_preferred_key_types_put_the_recorded_type_first(tmp_path, keys):
    _, _, rsa = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line(NAME, rsa))
    offered = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
    assert KnownHosts([kh]).preferred_key_types(NAME, offered) == [
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    ]
    assert KnownHosts([kh]).preferred_key_types("unknown", offered) == offered
