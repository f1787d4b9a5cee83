"""The runbooks in docs/runbooks/ run as written, in file order, against a lab, so the docs cannot rot.

Each runbook's ```sh blocks become one bash script (set -euo pipefail, cwd = the repository root), line for
line, so an error names the runbook's own line. A command whose line ends in `# exit: N` must exit N; every
other command must exit 0. The runbooks read the lab's inventory from $INVENTORY and write into $REPORTS
and $WORK (temporary directories here); everything else is their own defaults. The rollout runbook hardens
the lab's `web` hosts and the rollback runbook after it undoes that: the last test checks that the lab is
back as the runbooks found it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from remediate.lab.fleet import BASTION
from tests.lab.test_harden import snapshot

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted((ROOT / "docs" / "runbooks").glob("*.md"))
FENCE = re.compile(r"^```(\S*)\s*$")
EXPECTED_EXIT = re.compile(r"^(?P<command>.*\S)\s+# exit: (?P<code>\d+)\s*$")

# Runs the script given as $1; __expect checks a documented exit code, the ERR trap names an undocumented one.
RUNNER = r"""
set -euo pipefail
__rc=0
__expect() {
    local got=$__rc
    __rc=0
    if [ "$got" != "$1" ]; then
        echo "RUNBOOK line $2: exit $got, but the runbook says $1" >&2
        exit 97
    fi
    echo "RUNBOOK line $2: exit $got, as documented" >&2
}
trap 'echo "RUNBOOK line $LINENO: exit $?, but the runbook says 0" >&2' ERR
source "$1"
"""


def runbook_script(markdown: str) -> str:
    """The ```sh blocks as a bash script with the Markdown's line numbers (every other line left blank)."""
    lines, language = [], None
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            language = fence.group(1) if language is None else None
            lines.append("")
        elif language != "sh":
            lines.append("")
        elif expected := EXPECTED_EXIT.match(line):
            lines.append(f"{expected['command']} || __rc=$?; __expect {expected['code']} {number}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def run_runbook(markdown: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = tmp_path / "runbook.sh"
    script.write_text(runbook_script(markdown))
    return subprocess.run(
        ["bash", "-c", RUNNER, "runbook", str(script)],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=900,
        check=False,
    )


def clean_env(**values: str) -> dict[str, str]:
    """Only what a shell needs: no HOSTS, CANARY or sudo password leaks in from the caller's environment."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "REMEDIATE_LAB_HOME") if k in os.environ}
    return {**keep, "LANG": "C.UTF-8", **values}


def test_the_runner_holds_commands_to_their_documented_exit_codes(tmp_path):
    def outcome(body: str) -> tuple[int, str]:
        result = run_runbook(f"text\n\n```sh\n{body}\n```\n", tmp_path, clean_env())
        return result.returncode, result.stdout

    assert outcome("true\nsh -c 'exit 2'  # exit: 2\ntrue") == (0, "RUNBOOK line 5: exit 2, as documented\n")
    assert outcome("true  # exit: 2")[1] == "RUNBOOK line 4: exit 0, but the runbook says 2\n"
    code, out = outcome("X=1\nsh -c 'exit 3'\necho never")
    assert code == 3 and out == "RUNBOOK line 5: exit 3, but the runbook says 0\n"
    code, out = outcome("false | true")  # pipefail: a failure inside a pipe counts
    assert code == 1 and "line 4" in out
    code, out = outcome("echo ${UNSET_IN_RUNBOOK}")
    assert code != 0 and "UNSET_IN_RUNBOOK" in out
    assert outcome("```")[0] == 0 and runbook_script("```yaml\nrm -rf /\n```\n").strip() == ""


def test_every_runbook_has_steps_and_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert len(RUNBOOKS) >= 5, RUNBOOKS
    for path in RUNBOOKS:
        script = runbook_script(path.read_text())
        assert ".venv/bin/invoke " in script, f"{path.name} has no invoke step"
        assert f"(docs/runbooks/{path.name})" in readme, f"README does not link {path.name}"


@pytest.fixture(scope="module")
def lab_before(runbooks_lab):
    return {name: snapshot(runbooks_lab, name) for name in runbooks_lab.hosts if name != BASTION}


@pytest.mark.parametrize("runbook", RUNBOOKS, ids=lambda path: path.stem)
def test_runbook_runs_green_against_the_lab(runbook, runbooks_lab, lab_before, tmp_path):
    env = clean_env(
        INVENTORY=str(runbooks_lab.inventory_path), REPORTS=str(tmp_path / "reports"), WORK=str(tmp_path / "work")
    )
    (tmp_path / "work").mkdir()
    result = run_runbook(runbook.read_text(), tmp_path, env)
    print(result.stdout)
    tail = "\n".join(result.stdout.splitlines()[-60:])
    assert result.returncode == 0, f"{runbook.name} failed (exit {result.returncode}):\n{tail}"
    assert "but the runbook says" not in result.stdout


def test_the_runbooks_leave_the_lab_as_they_found_it(runbooks_lab, lab_before):
    def kept(text: str) -> list[str]:
        return [line for line in text.splitlines() if "/var/lib/remediate" not in line]

    for name, before in lab_before.items():
        assert kept(snapshot(runbooks_lab, name)) == kept(before), f"{name} differs after the runbooks"
