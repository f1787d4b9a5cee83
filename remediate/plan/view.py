"""One host as the planner sees it: facts, the check context, the effective dockerd configuration, check results.

Built once per plan so every step (daemon.json, units, auditd rules,
permissions, impacts) reads the same derived views; nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from remediate import checks
from remediate.checks.context import CheckContext
from remediate.checks.model import FAIL, WAIVED, Result
from remediate.facts.model import FileFact, HostFacts
from remediate.facts.typed import Unit
from remediate.facts.units import UnitLine, unit_lines
from remediate.policy import Policy


@dataclass
class HostView:
    facts: HostFacts
    policy: Policy
    groups: tuple[str, ...] = ()
    today: dt.date = field(default_factory=dt.date.today)
    # only the checks harden can fix: the simulated host after a plan is asked which of them still fail, no more
    fixable_only: bool = False

    @cached_property
    def ctx(self) -> CheckContext:
        return CheckContext(self.facts, self.policy, host_name=self.facts.host, groups=self.groups, today=self.today)

    @cached_property
    def results(self) -> dict[str, Result]:
        selected = [c for c in checks.select() if c.fixable or not self.fixable_only]
        return {r.check.id: r for r in checks.evaluate(self.ctx, selected)}

    @cached_property
    def failing(self) -> frozenset[str]:
        return frozenset(i for i, r in self.results.items() if r.status == FAIL)

    @cached_property
    def waived(self) -> frozenset[str]:
        return frozenset(i for i, r in self.results.items() if r.status == WAIVED)

    @property
    def effective(self):
        return self.ctx.effective

    @property
    def version(self):
        return self.effective.version_tuple

    @property
    def docker_installed(self) -> bool:
        return self.ctx.docker_installed

    @property
    def docker_state(self) -> str:
        return self.ctx.service.active_state

    @property
    def info(self) -> dict:
        return self.ctx.docker_info or {}

    def file(self, path: str) -> FileFact:
        return self.facts.file(path)

    # --- units -----------------------------------------------------------------
    def unit_paths(self, unit: str) -> list[str]:
        """The unit's fragment, then its drop-ins in the order systemd applies them."""
        return (self.ctx.service if unit == "docker.service" else self.ctx.socket).files

    def unit_lines(self, unit: str, section: str, key: str) -> list[UnitLine]:
        found = []
        for path in self.unit_paths(unit):
            text = self.file(path).text()
            if text is not None:
                found += [u for u in unit_lines(path, text) if u.section == section and u.key == key]
        return found

    @property
    def socket_listen(self) -> list[str]:
        """Every stream Listen= of docker.socket."""
        return self.ctx.socket_listen

    @property
    def socket_loaded(self) -> bool:
        return self.ctx.socket.load_state == "loaded"

    @property
    def socket_props(self) -> Unit:
        return self.ctx.socket

    @property
    def auditd_present(self) -> bool:
        return self.ctx.parsed.auditctl.present

    @property
    def swarm_active(self) -> bool:
        return self.ctx.parsed.in_swarm

    @property
    def running_containers(self) -> int:
        if "ContainersRunning" in self.info:
            return int(self.info.get("ContainersRunning") or 0)
        return len(self.ctx.running_containers)
