"""Fixtures shared by the unit tests that run the host script here (test_apply_locks, test_apply_links)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from remediate.apply.protocol import PAUSE_ENV, Transaction
from remediate.connection.local import LocalConnection

RUN = "20261128T120000Z-abcdef"


@pytest.fixture
def home():
    """A root-only directory for the script's files and backups: it refuses to act anywhere a user other than
    root could swap a name for a link, which rules out pytest's tmp_path under the world-writable /tmp."""
    if os.geteuid() != 0:
        pytest.skip("the transaction script sets root ownership on staged files")
    path = Path(tempfile.mkdtemp(prefix="remediate-test-", dir="/run"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def tx(home, monkeypatch):
    monkeypatch.delenv(PAUSE_ENV, raising=False)
    return Transaction(LocalConnection(), RUN, become=False, base=str(home / "base"))
