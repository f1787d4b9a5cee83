"""Install anywhere: the built wheel carries templates/ and policies/, found from any directory once installed.

The wheel is built from this checkout as `pip install .` builds it for a user (isolated: pip fetches setuptools
once, then takes it from its cache; about 6 s); the lab test
tests/lab/test_install.py installs it into a fresh virtualenv and runs it against real hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ("templates", "policies")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("remediate-*.whl")
    return built


def _shipped_sources() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for top in DATA for p in (ROOT / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_the_wheel_carries_every_template_and_policy_under_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = _shipped_sources()
    assert "templates/apply/transaction.sh" in sources and "policies/default.yml" in sources
    missing = [s for s in sources if f"remediate/_data/{s}" not in names]
    assert missing == []
    assert not [n for n in names if n.startswith(DATA)], "nothing lands outside the package"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "REMEDIATE_"))}
    return env | extra


def test_an_installed_package_finds_its_templates_and_policies_from_any_directory(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import remediate, remediate.templates as t, remediate.policy as p\n"
             "print(remediate.__file__); print(t.TEMPLATES_DIR); print(p.POLICIES_DIR)\n"
             "assert p.load_profile('strict')\n"
             "assert t.environment().get_template('report/report.html.j2')\n"
             "assert (t.TEMPLATES_DIR / 'apply' / 'transaction.sh').is_file()\n")
    # -P: the current directory is not on sys.path; PYTHONPATH puts the unpacked wheel before the venv's
    # (editable) remediate.
    result = subprocess.run([sys.executable, "-P", "-c", probe], cwd=elsewhere, capture_output=True, text=True,
                            env=_clean_env(PYTHONPATH=str(site)), timeout=60)
    assert result.returncode == 0, result.stderr
    module, templates, policies = result.stdout.split()
    assert Path(module).is_relative_to(site)
    assert Path(templates) == site / "remediate" / "_data" / "templates"
    assert Path(policies) == site / "remediate" / "_data" / "policies"
