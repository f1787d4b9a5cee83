"""Validation of a plan on its host before anything is written (dry-run and apply alike).

Two layers. The model (remediate.dockerd, run by the planner) decides what
the host's dockerd release refuses: syntax, conflicts, unknown and ignored
keys, types, icc/iptables, swarm/live-restore, in our words with line:column.
dockerd's own words come from the host: `dockerd --validate` below, and the
journal when a restart fails (apply rolls back and reports it). What the model cannot know is
checked on the host in one round trip: the binaries, users, groups and files
the planned configuration names exist, every path the plan changes can be
changed (no immutable or append-only flag, no read-only filesystem), and,
from dockerd 23.0, `dockerd
--validate` runs with the service's real flags on the candidate daemon.json
(staged in a private temp directory that the script removes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from remediate.apply.protocol import Transaction
from remediate.connection.base import Connection
from remediate.dockerd.systemd import exec_start_prefixes, split_words
from remediate.facts.dockerd_inputs import dockerd_inputs, effective_config
from remediate.facts.model import HostFacts
from remediate.plan.dir_safety import tightened_dirs
from remediate.plan.model import Plan
from remediate.plan.simulate import simulated

VALIDATE_FROM = (23, 0)  # `dockerd --validate` exists from this release
_PATH_SETTINGS = ("seccomp-profile", "tlscacert", "tlscert", "tlskey")


@dataclass(frozen=True)
class Probe:
    kind: str  # exists | executable | user | group | tightened | writable
    arg: str


@dataclass
class ValidationSpec:
    probes: list[Probe] = field(default_factory=list)
    dockerd_argv: list[str] | None = None  # `dockerd --validate ...` without --config-file
    daemon_json: bytes | None = None
    notes: list[str] = field(default_factory=list)  # what was checked by remediate instead of on the host

    @property
    def empty(self) -> bool:
        return not self.probes and self.dockerd_argv is None

    def args(self) -> list[str]:
        words = [w for p in self.probes for w in (p.kind, p.arg)]
        if self.dockerd_argv is not None:
            words += ["dockerd-validate", str(len(self.daemon_json or b"{}")), *self.dockerd_argv]
        return words

    def stdin(self) -> bytes | None:
        return (self.daemon_json or b"{}") if self.dockerd_argv is not None else None


@dataclass
class Validation:
    ok: bool
    steps: list[dict]

    def to_json(self) -> dict:
        return {"ok": self.ok, "steps": self.steps}

    def errors(self) -> list[str]:
        return [f"{s['name']}: {s['detail']}" for s in self.steps if not s["ok"]]


def _binary(post: HostFacts) -> str | None:
    commands = dockerd_inputs(post).exec_start
    if not commands:
        return None
    words = split_words(commands[-1])
    if not words:
        return None
    _prefix, path = exec_start_prefixes(words[0])
    return path or None


def _without_config_file(words: list[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "--config-file":
            skip = True
        elif not word.startswith("--config-file="):
            out.append(word)
    return out


def validation_spec(facts: HostFacts, plan: Plan) -> ValidationSpec:
    """What to check on the host for this plan: pure, from the facts the plan will leave behind."""
    spec = ValidationSpec()
    if plan.refused or plan.empty:
        return spec
    post = simulated(facts, plan)
    eff = effective_config(post)
    binary = _binary(post)
    if binary and binary.startswith("/"):
        spec.probes.append(Probe("executable", binary))
    group = post.parsed.socket.socket_group
    if group and group != "root":
        spec.probes.append(Probe("group", group))
    remap = eff.value("userns-remap")
    if isinstance(remap, str) and remap and remap != "default":
        spec.probes.append(Probe("user", remap.split(":")[0]))
    for key in _PATH_SETTINGS:
        value = eff.value(key)
        if isinstance(value, str) and value.startswith("/"):
            spec.probes.append(Probe("exists", value))
    # Immutable or append-only files and read-only filesystems: found now, not halfway through the commit.
    spec.probes += [Probe("tightened", path) for path in tightened_dirs(plan.changes)]
    spec.probes += [Probe("writable", change.path) for change in plan.changes]
    if binary and eff.version_tuple and eff.version_tuple >= VALIDATE_FROM:
        change = plan.change(eff.daemon_json_path)
        spec.daemon_json = (
            change.after
            if change is not None and change.after is not None
            else (post.file(eff.daemon_json_path).content or b"{}")
        )
        if remap == "default" and _remap_would_write(facts, plan):
            spec.daemon_json = _without_userns_remap(spec.daemon_json)
            spec.notes.append(USERNS_NOT_VALIDATED)
        spec.dockerd_argv = [binary, "--validate", *_without_config_file([a.text for a in eff.argv])]
    return spec


# Seen on dockerd 26.1 and 28.5: `dockerd --validate` with userns-remap "default" creates the dockremap user and
# appends id ranges to /etc/subuid and /etc/subgid when they are missing: a validation that writes.
USERNS_NOT_VALIDATED = (
    'userns-remap "default" was left out of the daemon.json given to `dockerd --validate`: dockerd 23+ creates '
    "the dockremap user and its id ranges while validating that key, and validation must write nothing; remediate "
    "checked it instead (dockremap's ranges in /etc/subuid and /etc/subgid, present or written by this plan past "
    "every other user's, so none overlaps; harden adds the user itself before the restart)"
)


def _remap_would_write(facts: HostFacts, plan: Plan) -> bool:
    """dockerd --validate would create dockremap or its ranges: the user or a range is not there yet."""
    return not facts.parsed.dockremap_user or any(
        plan.change(path) is not None for path in ("/etc/subuid", "/etc/subgid")
    )


def _without_userns_remap(content: bytes) -> bytes:
    try:
        values = json.loads(content)
    except ValueError:
        return content  # the model already refused an unreadable file; dockerd says why
    if isinstance(values, dict):
        values.pop("userns-remap", None)
        return (json.dumps(values, indent=2) + "\n").encode()
    return content


def model_step(plan: Plan, facts: HostFacts) -> dict:
    version = effective_config(facts).version or "unknown"
    return {
        "name": "model",
        "ok": True,
        "detail": f"dockerd {version} would accept the planned configuration (remediate's model of what it refuses)",
    }


def validate_on_host(conn: Connection, facts: HostFacts, plan: Plan, *, become: bool) -> Validation:
    """Model + host checks for a plan; one round trip when there is something to ask the host. The last step of
    planning a host: the values derived from its facts (the planner's simulation among them) are dropped after."""
    try:
        return _validate_on_host(conn, facts, plan, become=become)
    finally:
        facts.forget_derived()


def _validate_on_host(conn: Connection, facts: HostFacts, plan: Plan, *, become: bool) -> Validation:
    if plan.refused or plan.empty:
        return Validation(True, [])
    steps = [model_step(plan, facts)]
    spec = validation_spec(facts, plan)
    if spec.empty:
        return Validation(True, steps)
    reply = Transaction(conn, "validate", become=become).call("validate", *spec.args(), stdin=spec.stdin(), timeout=120)
    steps += [
        {"name": line.step, "ok": line.kind == "ok", "detail": line.detail}
        for line in reply.lines
        if line.kind in ("ok", "fail")
    ]
    steps += [{"name": "remediate", "ok": True, "detail": note} for note in spec.notes]
    if not reply.ok and not reply.failures():
        steps.append({"name": "host", "ok": False, "detail": reply.error()})
    return Validation(all(s["ok"] for s in steps), steps)
