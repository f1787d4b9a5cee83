"""Every shell text remediate runs, linted by shellcheck at warning level.

The host script (apply transaction) and the probe snippets run as root on production hosts under POSIX sh
(dash on Debian): a quoting slip there is a word split or a glob of a host-supplied path. The lab and CI scripts
run here as root. shellcheck is a Debian package setup.sh installs; a machine without it fails this test, it does
not skip it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from remediate.facts.dirs import DIR_CHAIN_SNIPPET
from remediate.facts.probes import SNIPPETS

ROOT = Path(__file__).resolve().parents[2]
# (file, shell): the shell each one runs under. The host script is POSIX sh plus `local`, which every /bin/sh it
# meets has (dash, bash, busybox ash): shellcheck's dash mode is POSIX with that one addition.
SCRIPTS = [
    ("templates/apply/transaction.sh", "dash"),
    ("templates/lab/boot.sh", "sh"),
    ("templates/lab/image-setup.sh", "sh"),
    *((str(p.relative_to(ROOT)), "sh") for p in sorted((ROOT / "templates/lab/engines").glob("*.sh"))),
    ("setup.sh", "bash"),
    (".ci/run", "bash"),
]
SHELL_TEXTS = {**{f"probe {name}": text for name, text in SNIPPETS.items()}, "probe dir_chain": DIR_CHAIN_SNIPPET}
# Findings read and kept, by target, each with why. Everything else shellcheck reports, down to its info level
# (where unquoted expansions sit), fails.
ACCEPTED = {
    # `a && b || fail`: the failure branch is meant to run when either a or b fails
    "templates/apply/transaction.sh": {"SC2015": "a && b || fail"},
    # docker prints ids and names as hex or [a-zA-Z0-9_.-] words; they are split into arguments on purpose
    "probe containers": {"SC2086": "ids from docker ps", "SC2013": "grep -l prints one path a line"},
    "probe swarm_networks": {"SC2086": "ids from docker"},
    "probe swarm_services": {"SC2086": "ids from docker"},
    # under set -f, split at newlines only: one path a word
    "probe dir_chain": {"SC2086": "set -f; IFS=newline"},
}


def shellcheck(shell: str, *args: str, text: str | None = None, accepted=()) -> str:
    """shellcheck's findings (gcc format), but for the accepted codes; "" when clean."""
    tool = shutil.which("shellcheck")
    assert tool, "shellcheck is not installed (setup.sh installs the Debian package)"
    excluded = ["-e", ",".join(sorted(accepted))] if accepted else []
    result = subprocess.run(
        [tool, "-s", shell, "-S", "info", "-f", "gcc", *excluded, *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize(("path", "shell"), SCRIPTS, ids=[p for p, _ in SCRIPTS])
def test_script_passes_shellcheck(path, shell):
    assert shellcheck(shell, str(ROOT / path), accepted=ACCEPTED.get(path, {})) == ""


@pytest.mark.parametrize("name", sorted(SHELL_TEXTS))
def test_probe_snippet_passes_shellcheck(name):
    assert shellcheck("sh", "-", text=SHELL_TEXTS[name], accepted=ACCEPTED.get(name, {})) == ""


def test_shellcheck_finds_what_it_is_here_for():
    """The lint is live at the level that matters: an unquoted variable in POSIX sh is reported."""
    assert "SC2086" in shellcheck("sh", "-", text="f=$1; rm -f $f\n")


def test_every_accepted_finding_is_still_there():
    """An accepted code the target no longer produces is removed from ACCEPTED, so it cannot hide a new one."""
    texts = {**{p: (ROOT / p).read_text() for p, _ in SCRIPTS}, **SHELL_TEXTS}
    shells = dict(SCRIPTS)
    for target, codes in ACCEPTED.items():
        found = shellcheck(shells.get(target, "sh"), "-", text=texts[target])
        assert {c for c in codes if f"[{c}]" not in found} == set(), target


def test_the_host_scripts_action_list_is_never_a_glob(tmp_path):
    """`save-images:*` (save every image) reaches run_actions in the action list; split with pathname
    expansion on, a file named save-images:X in the cwd would turn it into "save X only" (shellcheck SC2086)."""
    script = (ROOT / "templates/apply/transaction.sh").read_text()
    start = script.index("run_actions() {")
    function = script[start : script.index("\n}\n", start) + 3]
    stubs = (
        "say() { printf '%s\\n' \"$*\"; }\n"
        'timeout() { shift; "$@"; }\n'
        "docker() { case $1 in images) printf 'busybox:latest\\nlab/app:1\\n' ;; image) ;; "
        'save) shift 3; echo "saved $*" ;; esac; }\n'
    )
    (tmp_path / "save-images:busybox:latest").touch()
    result = subprocess.run(
        ["/bin/sh", "-c", stubs + function + 'rundir=.; run_actions 1 "save-images:*"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "saved busybox:latest lab/app:1" in result.stdout, result.stdout
