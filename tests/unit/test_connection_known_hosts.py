"""Strict host-key policy on real paramiko keys and known_hosts files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import paramiko
import pytest

from remediate.connection import known_hosts
from remediate.errors import HostKeyRejected


@pytest.fixture(scope="module")
def keys():
    return paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()


def line(name, key):
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def test_known_key_passes_and_port_form(tmp_path, keys):
    key, _ = keys
    kh = tmp_path / "known_hosts"
    kh.write_text(line("[127.0.0.1]:2222", key))
    known_hosts.verify("h", known_hosts.lookup_name("127.0.0.1", 2222), key, [kh], accept_new=False)
    assert known_hosts.lookup_name("h", 22) == "h"


def test_unknown_key_refused_with_advice(tmp_path, keys):
    key, _ = keys
    with pytest.raises(HostKeyRejected, match="unknown.*accept-new-host-keys"):
        known_hosts.verify("h", "[127.0.0.1]:2222", key, [tmp_path / "none"], accept_new=False)


def test_changed_key_refused_even_with_accept_new(tmp_path, keys):
    key, other = keys
    kh = tmp_path / "known_hosts"
    kh.write_text("# comment\n" + line("[127.0.0.1]:2222", other))
    for accept in (False, True):
        with pytest.raises(HostKeyRejected, match=rf"CHANGED.*{kh}:2"):
            known_hosts.verify("h", "[127.0.0.1]:2222", key, [kh], accept_new=accept)
    assert kh.read_text().count("\n") == 2


def test_accept_new_records_and_then_trusts(tmp_path, keys):
    key, _ = keys
    kh = tmp_path / "sub" / "known_hosts"
    known_hosts.verify("h", "[127.0.0.1]:2222", key, [kh], accept_new=True)
    assert kh.read_text() == line("[127.0.0.1]:2222", key)
    known_hosts.verify("h", "[127.0.0.1]:2222", key, [kh], accept_new=False)


def test_hashed_entries_match(tmp_path, keys):
    key, _ = keys
    salt = os.urandom(20)
    digest = hmac.new(salt, b"[10.0.0.1]:22", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    kh = tmp_path / "known_hosts"
    kh.write_text(line(hashed, key))
    known_hosts.verify("h", "[10.0.0.1]:22", key, [kh], accept_new=False)
    with pytest.raises(HostKeyRejected):
        known_hosts.verify("h", "[10.0.0.2]:22", key, [kh], accept_new=False)
