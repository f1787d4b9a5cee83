"""Install anywhere: `pip install <checkout>` into a fresh virtualenv outside the checkout, then the installed
`remediate` program lists its tasks, audits and dry-runs harden on a lab, from a directory that is not the checkout.

The virtualenv takes remediate's dependencies from PyPI (pip's cache makes a rerun quick); nothing of the
checkout is on its path, so the templates and policies it uses are the ones the wheel carries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    # Nothing points back into the checkout or the test session's virtualenv.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "REMEDIATE_"))}
    return env | {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `remediate` executable of a fresh virtualenv into which the checkout was pip-installed (not editable)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
        cwd=venv,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr
    return venv / "bin" / "remediate"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working directory that is not the checkout (and holds no inventories/ unless a test puts one there)."""
    path = tmp_path / "ops"
    path.mkdir()
    return path


def remediate(executable: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(executable), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )


def test_the_installed_package_is_not_the_checkout_and_lists_every_task(installed, elsewhere):
    python = installed.parent / "python"
    probe = subprocess.run(
        [str(python), "-c", "import remediate.shipped as s; print(s.__file__, s.TEMPLATES_DIR, s.POLICIES_DIR)"],
        cwd=elsewhere,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    module, templates, policies = map(Path, probe.stdout.split())
    site = installed.parent.parent
    assert module.is_relative_to(site) and not module.is_relative_to(ROOT)
    assert templates.is_relative_to(site) and policies.is_relative_to(site)

    listed = remediate(installed, elsewhere, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("audit", "harden", "rollback", "unlock", "facts", "report", "lab.up", "lab.down"):
        assert f"  {name} " in listed.stdout, name
    for checkout_only in (["test", "--unit"], ["bench"]):
        refused = remediate(installed, elsewhere, *checkout_only)
        assert refused.returncode == 1 and "needs a checkout" in refused.stderr, refused.stderr


def test_remediate_audit_from_any_directory_with_an_inventory_path_and_exit_codes(installed, elsewhere, install_lab):
    inventory = str(install_lab.inventory_path)
    found = remediate(
        installed, elsewhere, "audit", "-i", inventory, "--hosts", "stock,hardened", "--json", "audit.json"
    )
    assert found.returncode == 2, found.stdout + found.stderr  # stock fails high-severity checks
    assert "stock" in found.stdout and "hardened" in found.stdout
    doc = json.loads((elsewhere / "audit.json").read_text())
    assert doc["format"] == "remediate.results/1"
    assert {h["host"] for h in doc["hosts"]} == {"stock", "hardened"}

    clean = remediate(installed, elsewhere, "audit", "-i", inventory, "--hosts", "hardened")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # The strict profile comes from the policies the wheel carries (a profile not found would exit 1).
    strict = remediate(installed, elsewhere, "audit", "-i", inventory, "--hosts", "hardened", "--profile", "strict")
    assert strict.returncode in (0, 2), strict.stdout + strict.stderr


def test_relative_defaults_resolve_against_the_current_directory(installed, elsewhere, install_lab):
    missing = remediate(installed, elsewhere, "audit", "--hosts", "hardened")
    assert missing.returncode == 1
    assert f"the inventories directory {elsewhere / 'inventories'} does not exist" in missing.stderr
    (elsewhere / "inventories").mkdir()
    shutil.copy(install_lab.inventory_path, elsewhere / "inventories" / "lab.yml")
    default = remediate(installed, elsewhere, "audit", "--hosts", "hardened")  # ./inventories/lab.yml
    assert default.returncode == 0, default.stdout + default.stderr
    assert "hardened" in default.stdout


def test_remediate_harden_dry_run_shows_the_plan_and_changes_nothing(installed, elsewhere, install_lab):
    inventory = str(install_lab.inventory_path)
    dry = remediate(
        installed, elsewhere, "harden", "--dry-run", "-i", inventory, "--hosts", "stock", "--json", "dry.json"
    )
    assert dry.returncode == 2, dry.stdout + dry.stderr  # changes pending
    assert "/etc/docker/daemon.json" in dry.stdout
    doc = json.loads((elsewhere / "dry.json").read_text())
    assert doc["kind"] == "harden" and [h["host"] for h in doc["hosts"]] == ["stock"]
    again = remediate(installed, elsewhere, "harden", "--dry-run", "-i", inventory, "--hosts", "stock")
    assert again.returncode == 2, again.stdout + again.stderr  # the first dry run applied nothing
