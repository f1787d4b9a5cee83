"""Install anywhere: the built wheel carries templates/ and policies/, and `remediate` is `invoke` with tasks.py.

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
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("remediate-*.whl")
    return built


def _shipped_sources() -> list[str]:
    return sorted(
        str(p.relative_to(ROOT))
        for top in DATA
        for p in (ROOT / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_the_wheel_carries_every_template_and_policy_under_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = _shipped_sources()
    assert "templates/apply/transaction.sh" in sources and "policies/default.yml" in sources
    missing = [s for s in sources if f"remediate/_data/{s}" not in names]
    assert missing == []
    assert not [n for n in names if n.startswith(DATA)], "nothing lands outside the package"


def test_the_wheel_declares_the_remediate_console_script(wheel):
    archive = zipfile.ZipFile(wheel)
    (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text and "remediate = remediate.cli:main" in text


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "REMEDIATE_"))}
    return env | extra


def test_an_installed_package_finds_its_templates_and_policies_from_any_directory(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import remediate, remediate.templates as t, remediate.policy as p\n"
        "print(remediate.__file__); print(t.TEMPLATES_DIR); print(p.POLICIES_DIR)\n"
        "assert p.load_profile('strict')\n"
        "assert t.environment().get_template('report/report.html.j2')\n"
        "assert (t.TEMPLATES_DIR / 'apply' / 'transaction.sh').is_file()\n"
    )
    # -P: the current directory is not on sys.path; PYTHONPATH puts the unpacked wheel before the venv's
    # (editable) remediate.
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=_clean_env(PYTHONPATH=str(site)),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module, templates, policies = result.stdout.split()
    assert Path(module).is_relative_to(site)
    assert Path(templates) == site / "remediate" / "_data" / "templates"
    assert Path(policies) == site / "remediate" / "_data" / "policies"


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, env=_clean_env(PYTHONPATH=str(ROOT)), check=False
    )


REMEDIATE = [sys.executable, "-c", "from remediate.cli import main; main()"]
INVOKE = [sys.executable, "-m", "invoke"]


@pytest.mark.parametrize("args", [["--list"], ["--help", "audit"], ["--help", "harden"], ["--help", "lab.up"]])
def test_remediate_lists_and_explains_the_tasks_exactly_as_invoke_in_the_checkout(args, tmp_path):
    ours = _run(REMEDIATE + args, tmp_path)
    theirs = _run(INVOKE + args, ROOT)
    assert (ours.returncode, ours.stderr) == (0, "")
    # Only the program's name differs, and invoke titles a bundled namespace's list "Subcommands" (as `fab`).
    expected = theirs.stdout.replace("Usage: inv[oke] ", "Usage: remediate ").replace(
        "Available tasks:", "Subcommands:"
    )
    assert (ours.stdout, ours.returncode) == (expected, theirs.returncode)


def test_remediate_exits_as_invoke_on_bad_input_and_says_where_it_looked(tmp_path):
    missing = str(tmp_path / "nowhere.yml")
    ours = _run([*REMEDIATE, "audit", "-i", missing, "--hosts", "web"], tmp_path)
    theirs = _run([*INVOKE, "audit", "-i", missing, "--hosts", "web"], ROOT)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr == theirs.stderr
    # Outside a checkout the relative defaults are the current directory's: ./inventories/lab.yml.
    default = _run([*REMEDIATE, "audit", "--hosts", "web"], tmp_path)
    assert default.returncode == 1
    assert str(tmp_path / "inventories") in default.stderr


def test_remediate_version_and_the_checkout_only_test_task(tmp_path):
    version = _run([*REMEDIATE, "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("remediate 0.")
    test = _run([*REMEDIATE, "test", "--unit"], tmp_path)
    assert test.returncode == 1 and "needs a checkout" in test.stderr
