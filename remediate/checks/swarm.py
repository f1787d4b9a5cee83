"""Section 7: swarm, judged on what a node shows (docker info's Swarm section, its overlay networks, a manager's
services, its own swarm addresses). Report-only; not applicable on a node outside a swarm.

Not implemented, and why: 7.6 (the autolock key rotated periodically) and 7.8 (CA certificates rotated) are
about when keys were last rotated, which no node records where we could read it without the keys themselves.
"""

from __future__ import annotations

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts import parse

# Swarm's management ports: the raft/API port (managers) and the gossip port (every node).
SWARM_PORTS = {2377: "cluster management", 7946: "node gossip"}
WILDCARDS = ("0.0.0.0", "::", "*", "")
NS_PER_DAY = 86_400 * 10**9


def swarm_check(func=None, *, manager: bool = False):
    """Not applicable outside a swarm (and, with manager=True, on a node that is not a manager)."""

    def wrap(func):
        def check(ctx: CheckContext) -> Outcome:
            if ctx.docker_info is None:
                return Outcome.na("dockerd is not answering: its swarm state is unknown")
            if not ctx.parsed.in_swarm:
                return Outcome.na("this node is not in a swarm (LocalNodeState=inactive)")
            state = ctx.parsed.swarm_state
            if manager and not ctx.swarm_manager:
                return Outcome.na(
                    f"only a manager can tell (this node: LocalNodeState={state}, not a manager or a locked one)"
                )
            return func(ctx)

        check.__name__ = func.__name__
        return check

    return wrap(func) if func else wrap


@predicate("7.1")
@swarm_check(manager=True)
def managers(ctx: CheckContext) -> Outcome:
    count = ctx.swarm.get("Managers")
    if not isinstance(count, int) or count < 1:
        return Outcome.na(f"docker info gives no manager count ({count!r})")
    tolerated = (count - 1) // 2
    evidence = f"{count} manager(s) of {ctx.swarm.get('Nodes', '?')} node(s): raft tolerates losing {tolerated}"
    if count % 2 == 0:
        return Outcome.failed(
            evidence + f"; an even count tolerates no more loss than {count - 1} managers "
            "and adds a node whose compromise controls the swarm"
        )
    if count > 7:
        return Outcome.failed(evidence + "; Docker advises at most 7 managers")
    return Outcome.passed(evidence)


@predicate("7.2")
@swarm_check
def bound_interfaces(ctx: CheckContext) -> Outcome:
    if ctx.parsed.swarm_state == "locked":
        return Outcome.na(
            "this manager is locked (autolock, since its restart): it serves no swarm port until `docker swarm unlock`"
        )
    bad = [
        f"dockerd listens on {listener.address or '*'}:{listener.port} ({SWARM_PORTS[listener.port]}) "
        "on every interface"
        for listener in ctx.listeners
        if listener.port in SWARM_PORTS and "dockerd" in listener.process and listener.address in WILDCARDS
    ]
    bad += [
        f"service {service.get('Name')}: {port.get('PublishedPort')}/{port.get('Protocol', 'tcp')}"
        f"->{port.get('TargetPort')} published in {port.get('PublishMode', 'ingress')} mode on "
        "every interface of " + ("every node" if port.get("PublishMode") != "host" else "its nodes")
        for service in ctx.swarm_services
        for port in service.get("Ports") or []
        if port.get("PublishedPort")
    ]
    if bad:
        return Outcome.failed(*bad)
    shown = [f"{s.address}:{s.port}" for s in ctx.listeners if s.port in SWARM_PORTS and "dockerd" in s.process]
    return Outcome.passed(
        f"swarm ports bound to {', '.join(shown) or 'no wildcard address'}; "
        f"{len(ctx.swarm_services)} service(s) listed, none published"
    )


@predicate("7.3")
@swarm_check
def encrypted_overlays(ctx: CheckContext) -> Outcome:
    if not ctx.parsed.swarm_networks.listed:
        return Outcome.na("overlay networks could not be listed: " + ctx.parsed.swarm_networks.error[:200])
    if not ctx.overlay_networks:
        return Outcome.na("no overlay network on this node")
    bad = [
        f"overlay network {n.get('Name')}{' (the ingress network)' if n.get('Ingress') else ''} is not encrypted"
        for n in ctx.overlay_networks
        if "encrypted" not in (n.get("Options") or {})
    ]
    return (
        Outcome.failed(*bad)
        if bad
        else Outcome.passed(f"{len(ctx.overlay_networks)} overlay network(s), all with the encrypted option")
    )


@predicate("7.4")
@swarm_check(manager=True)
def secrets_used(ctx: CheckContext) -> Outcome:
    if not ctx.swarm_services:
        return Outcome.na("no swarm service to judge")
    using = [str(s.get("Name")) for s in ctx.swarm_services if s.get("Secrets")]
    others = [str(s.get("Name")) for s in ctx.swarm_services if not s.get("Secrets")]
    if using:
        return Outcome.passed(
            f"service(s) using swarm secrets: {', '.join(using)}",
            *([f"no secret referenced by: {', '.join(others)}"] if others else []),
        )
    return Outcome.failed(
        f"none of the {len(others)} service(s) references a swarm secret: {', '.join(others)} "
        "(credentials then travel in environment variables or images)"
    )


@predicate("7.5")
@swarm_check(manager=True)
def autolock(ctx: CheckContext) -> Outcome:
    value = (ctx.swarm_spec.get("EncryptionConfig") or {}).get("AutoLockManagers")
    return Outcome.of(value is True, f"Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers = {str(value).lower()}")


@predicate("7.7")
@swarm_check(manager=True)
def node_cert_expiry(ctx: CheckContext) -> Outcome:
    expiry = (ctx.swarm_spec.get("CAConfig") or {}).get("NodeCertExpiry")
    limit = ctx.policy.threshold("swarm", "max_node_cert_days")
    if not isinstance(expiry, int) or expiry <= 0:
        return Outcome.na(f"docker info gives no node certificate expiry ({expiry!r})")
    days = expiry / NS_PER_DAY
    return Outcome.of(
        days <= limit,
        f"node certificates expire (and are rotated) every {days:g} days "
        f"(Swarm.Cluster.Spec.CAConfig.NodeCertExpiry; policy: at most {limit})",
    )


@predicate("7.9")
@swarm_check
def data_path_separated(ctx: CheckContext) -> Outcome:
    node = ctx.swarm_node
    if not node:
        return Outcome.na("dockerd's swarm state file could not be read: " + ctx.parsed.swarm_node.error[:200])
    advertise = parse.host_of(str(node.get("AdvertiseAddr") or node.get("LocalAddr") or ""))
    data_path = parse.host_of(str(node.get("DataPathAddr") or ""))
    evidence = f"advertise address {advertise or '(none)'}, data path address {data_path or '(unset: the same)'}"
    return Outcome.of(bool(data_path) and data_path != advertise, evidence)
