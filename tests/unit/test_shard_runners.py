"""The two shipped ways to run shards (README "Sharding"), checked offline: the GitHub Actions matrix by actionlint,
the Kubernetes Indexed Job by kubernetes-validate (its bundled schemas); and for both, that the shard numbers
their runners hand to `--shard` cover every shard of N exactly once."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from remediate.inventory.shard import Shard, parse_shard

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "fleet-audit.yml"
MANIFEST = ROOT / "deploy" / "k8s" / "fleet-audit-job.yaml"


def tool(name: str) -> str:
    """The tool from the test extra (beside this Python, else on PATH); the test skips only when it is missing."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]'; setup.sh does)")
    return found


def test_actionlint_accepts_the_workflow():
    result = subprocess.run([tool("actionlint"), str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_accepts_the_manifest_strictly():
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(MANIFEST)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == 3, result.stdout


def test_the_workflow_matrix_runs_every_shard_once_and_merges_them():
    flow = yaml.safe_load(WORKFLOW.read_text())
    audit, merge = flow["jobs"]["audit"], flow["jobs"]["merge"]
    shards = audit["strategy"]["matrix"]["shard"]
    assert audit["strategy"]["fail-fast"] is False
    [run] = [step["run"] for step in audit["steps"] if "remediate audit" in step.get("run", "")]
    [command] = [line for line in run.replace("\\\n", " ").splitlines() if line.startswith("remediate audit")]
    words = shlex.split(command)
    spec = words[words.index("--shard") + 1]
    assert spec == "${{ matrix.shard }}/${{ strategy.job-total }}"
    # GitHub substitutes the matrix value and the matrix's job count:
    total = str(len(shards))
    picked = [
        parse_shard(spec.replace("${{ matrix.shard }}", str(k)).replace("${{ strategy.job-total }}", total))
        for k in shards
    ]
    assert picked == [Shard(k, len(shards)) for k in range(1, len(shards) + 1)]
    assert merge["needs"] == "audit" and merge["if"] == "always()"
    assert any("remediate report 'shards/*.json'" in step.get("run", "") for step in merge["steps"])


def test_the_indexed_job_maps_each_completion_index_to_its_own_shard():
    claim, job, merge = yaml.safe_load_all(MANIFEST.read_text())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    [container] = spec["template"]["spec"]["containers"]
    words = shlex.split(container["args"][0])
    shard = words[words.index("--shard") + 1]
    count = spec["completions"]
    # Kubernetes sets JOB_COMPLETION_INDEX to 0 … completions-1, one per pod:
    picked = [parse_shard(shard, {"JOB_COMPLETION_INDEX": str(i)}) for i in range(count)]
    assert picked == [Shard(k, count) for k in range(1, count + 1)]
    assert '"/results/shard-$JOB_COMPLETION_INDEX.json"' in container["args"][0]
    [wait] = merge["spec"]["template"]["spec"]["initContainers"]
    assert f"-ge {count}" in wait["args"][0]
    assert merge["spec"]["template"]["spec"]["containers"][0]["command"][:3] == [
        "remediate",
        "report",
        "/results/shard-*.json",
    ]
    volumes = [
        v["persistentVolumeClaim"]["claimName"]
        for j in (job, merge)
        for v in j["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert volumes == [claim["metadata"]["name"]] * 2
