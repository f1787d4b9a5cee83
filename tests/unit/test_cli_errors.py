"""The tasks turn bad input into one clean line and exit 1; any other exception is a bug and keeps its traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Program

from remediate import cli

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str], root: Path) -> None:
    Program(name="remediate", binary="remediate", namespace=cli.collection(root)).run(["remediate", *argv])


def test_a_missing_inventory_is_one_line_and_exit_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        run(["audit", "-i", str(tmp_path / "nope.yml"), "--hosts", "web"], tmp_path)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == f"audit: inventory {tmp_path / 'nope.yml'} does not exist\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", "--fail-on", "severe"], "audit: --fail-on must be one of info, low, medium, high, critical"),
        (["rollback", "--run", "last"], "rollback: --run 'last' is not a run id"),
        (["bench", "--scale", "20,lots"], "bench: --scale '20,lots': give comma-separated numbers"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr("remediate.bench.contestants.BENCH_DIR", tmp_path)  # bench checks for a checkout first
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n")
    with pytest.raises(SystemExit) as exited:
        run([*argv, *(["-i", str(inventory), "--hosts", "web1"] if argv[0] != "bench" else [])], tmp_path)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


def test_a_bug_raising_valueerror_is_not_passed_off_as_bad_input(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("injected bug")

    monkeypatch.setattr("remediate.target.resolve_target", bug)
    with pytest.raises(ValueError, match="injected bug"):
        run(["audit", "--hosts", "web"], tmp_path)


def test_the_program_prints_a_bugs_traceback(tmp_path):
    script = (
        "import remediate.target, sys\n"
        "def bug(*a, **k): raise ValueError('injected bug')\n"
        "remediate.target.resolve_target = bug\n"
        "sys.argv = ['remediate', 'harden', '--dry-run', '--hosts', 'web']\n"
        "from remediate.cli import main; main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "ValueError: injected bug" in done.stderr
