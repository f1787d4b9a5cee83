"""Did the apply do what the plan said? Compare the host's new facts with the plan's prediction.

Pure: the facts before, the facts gathered after the commit, and the plan.
The prediction is the plan applied to the old facts (remediate.plan.simulate):
every fixable check that passes there must pass on the host, every written
file must hold the planned bytes, owner and mode, and dockerd must run with
no drift between its files and the live daemon.
"""

from __future__ import annotations

import datetime as dt

from remediate.checks.model import PASS
from remediate.facts.model import HostFacts
from remediate.plan.model import Plan
from remediate.plan.simulate import apply_plan
from remediate.plan.view import HostView
from remediate.policy import Policy


def _file_problems(after: HostFacts, plan: Plan) -> list[str]:
    problems = []
    for change in plan.changes:
        if change.kind == "socket":
            continue  # recreated by systemd at restart: its mode is checked by the section 3 checks
        found = after.file(change.path)
        if change.deletes:
            if found.exists:
                problems.append(f"{change.path} should be gone but is still there")
            continue
        if not found.exists:
            problems.append(f"{change.path} is missing")
            continue
        if (
            change.kind == "file"
            and not change.metadata_only
            and found.content is not None
            and found.content != change.after
        ):
            problems.append(f"{change.path} does not hold the planned bytes")
        if found.mode is not None and found.mode & 0o7777 != change.mode & 0o7777:
            problems.append(f"{change.path} has mode {found.mode:04o}, planned {change.mode:04o}")
        if (found.owner, found.group) != (change.owner, change.group):
            problems.append(
                f"{change.path} is owned by {found.owner}:{found.group}, planned {change.owner}:{change.group}"
            )
    return problems


def verify_applied(
    before: HostFacts,
    after: HostFacts,
    plan: Plan,
    policy: Policy,
    groups: tuple[str, ...] = (),
    today: dt.date | None = None,
) -> list[str]:
    """Everything about the host that differs from what the plan promised; empty when verified."""
    today = today or dt.date.today()
    predicted = HostView(apply_plan(before, plan), policy, groups, today)
    actual = HostView(after, policy, groups, today)
    problems = _file_problems(after, plan)
    was_active = HostView(before, policy, groups, today).docker_state == "active"
    restarted = {"restart-docker", "reload-docker"} & set(plan.action_kinds())
    if (was_active or restarted) and actual.docker_state != "active":
        reason = actual.effective.down_reason
        problems.append(
            f"docker.service is {actual.docker_state}" + (f": {reason.message}" if reason and reason.message else "")
        )
    for drift in actual.effective.drift:
        problems.append(f"the running dockerd differs from its configuration: {drift.message}")
    for check_id, expected in predicted.results.items():
        got = actual.results.get(check_id)
        if expected.check.fixable and expected.status == PASS and got is not None and got.status != PASS:
            problems.append(
                f"check {check_id} ({expected.check.title}) should pass after the plan but is "
                f"{got.status}: {'; '.join(got.evidence) or 'no evidence'}"
            )
    return problems
