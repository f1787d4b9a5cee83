"""Pure planning: facts + policy -> Plan (file changes, service actions, impacts, held-back risks).

    plan = plan_host(facts, policy, accept_risk={"userns-remap"})
    plan.empty, plan.changes, plan.actions, plan.impacts, plan.held_back, plan.refused
    print(unified_diff(plan.changes[0])); plan.to_json(); plan.dumps()

Nothing here reads or writes a host: the apply step consumes the Plan.
"""

from remediate.plan.daemon_json import desired_daemon_json, merge_settings, render_daemon_json
from remediate.plan.model import Action, FileChange, HeldBack, Impact, Plan, unified_diff
from remediate.plan.planner import plan_host, plan_view
from remediate.plan.simulate import apply_plan

__all__ = [
    "Action",
    "FileChange",
    "HeldBack",
    "Impact",
    "Plan",
    "apply_plan",
    "desired_daemon_json",
    "merge_settings",
    "plan_host",
    "plan_view",
    "render_daemon_json",
    "unified_diff",
]
