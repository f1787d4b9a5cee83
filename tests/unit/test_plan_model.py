"""The plan as data: git-style diffs, JSON with text or base64 bytes, action kinds."""

from __future__ import annotations

import base64
import json

import pytest

from remediate.plan.model import IMPACT_SEVERITIES, Action, FileChange, Impact, Plan, unified_diff
from remediate.policy import policy_for
from remediate.severity import SEVERITIES


def test_content_change_diff_has_git_headers_and_hunks():
    change = FileChange(
        "/etc/docker/daemon.json",
        b'{\n  "debug": true\n}\n',
        b'{\n  "icc": false\n}\n',
        "root",
        "root",
        0o644,
        ("2.2",),
        "set icc",
        0o644,
        "root",
        "root",
    )
    diff = unified_diff(change)
    assert diff.startswith("diff --git a/etc/docker/daemon.json b/etc/docker/daemon.json\n")
    assert "--- a/etc/docker/daemon.json\n+++ b/etc/docker/daemon.json\n" in diff
    assert '-  "debug": true\n+  "icc": false\n' in diff
    assert "mode" not in diff


def test_pure_mode_and_owner_change_shows_git_mode_lines():
    change = FileChange(
        "/etc/docker/daemon.json",
        b"{}\n",
        b"{}\n",
        "root",
        "root",
        0o644,
        ("3.18",),
        "chmod",
        old_mode=0o666,
        old_owner="ops",
        old_group="ops",
    )
    assert not change.content_changed and change.mode_changed and change.owner_changed
    diff = unified_diff(change)
    assert "old mode 100666\nnew mode 100644\n" in diff
    assert "old owner ops:ops\nnew owner root:root\n" in diff
    assert "---" not in diff


def test_directory_mode_uses_git_tree_type():
    change = FileChange(
        "/etc/docker", None, None, "root", "root", 0o755, ("3.6",), "chmod", 0o777, "root", "root", kind="directory"
    )
    assert not change.creates and not change.deletes
    assert "old mode 040777\nnew mode 040755\n" in unified_diff(change)


def test_new_and_deleted_files():
    new = FileChange("/etc/x.conf", None, b"a\n", "root", "root", 0o644)
    assert new.creates and "new file mode 100644" in unified_diff(new) and "--- /dev/null" in unified_diff(new)
    gone = FileChange("/etc/x.conf", b"a\n", None, "root", "root", 0o644, old_mode=0o644)
    assert gone.deletes and "deleted file mode 100644" in unified_diff(gone) and "+++ /dev/null" in unified_diff(gone)


def test_missing_final_newline_is_marked():
    change = FileChange(
        "/etc/f", b"a", b"b\n", "root", "root", 0o644, old_mode=0o644, old_owner="root", old_group="root"
    )
    assert "\\ No newline at end of file" in unified_diff(change)


def test_json_keeps_text_as_text_and_binary_as_base64():
    binary = b"\xff\xfe{}"
    change = FileChange(
        "/etc/docker/daemon.json",
        binary,
        b"{}\n",
        "root",
        "root",
        0o644,
        old_mode=0o644,
        old_owner="root",
        old_group="root",
    )
    data = change.to_json()
    assert data["before_encoding"] == "base64" and base64.b64decode(data["before"]) == binary
    assert data["after_encoding"] == "utf-8" and data["after"] == "{}\n"
    assert "Binary files" in data["diff"]
    assert data["mode"] == "0644" and data["action"] == "rewrite"


def test_plan_json_is_stable_text():
    plan = Plan(
        "h",
        (FileChange("/etc/f", None, b"x\n", "root", "root", 0o644, ("1.1.10", "1.1.3")),),
        (Action("restart-docker", "why", ("docker.service",)),),
    )
    assert plan.dumps() == plan.dumps()
    data = json.loads(plan.dumps())
    assert data["empty"] is False and data["fixes"] == ["1.1.3", "1.1.10"]
    assert Plan("h").empty and not Plan("h", actions=(Action("load-audit-rules", "x"),)).empty


def test_unknown_action_kind_is_a_bug():
    with pytest.raises(ValueError):
        Action("reboot", "no")


def test_impacts_rank_on_the_checks_scale_up_to_high_and_policies_on_all_of_it():
    assert IMPACT_SEVERITIES == ("info", "low", "medium", "high") == SEVERITIES[:-1]
    for severity in IMPACT_SEVERITIES:
        assert Impact("restart", "why", severity).to_json()["severity"] == severity
    with pytest.raises(ValueError, match="critical"):  # a planner bug: no impact outranks a restart
        Impact("restart", "why", "critical")
    assert policy_for({"remediate_policy": {"severity": {"2.1": "critical"}}}).severity == {"2.1": "critical"}
