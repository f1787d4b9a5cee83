"""CIS 4.4, 4.6, 6.1, 6.2, section 7 and 2.15 on a swarm node, on facts captured from the lab's `swarm` host.

The swarm host as seeded: a manager as `docker swarm init` leaves it (listening on every interface, no autolock,
no separate data path), year-long node certificates, an unencrypted overlay network and a service published on
every interface, running an image with USER and HEALTHCHECK. The pass cases are facts captured from the same host set
up as CIS asks (what `test_a_swarm_set_up_as_cis_asks_passes_section_7` in tests/lab/test_images_swarm.py does).
test_checks_catalogue.py runs these cases with its own (IMAGES_SWARM_PASS, IMAGES_SWARM_FAIL).
"""

from __future__ import annotations

import json

import pytest

from remediate.checks import CheckContext, evaluate, select
from remediate.checks.model import FAIL, NA, PASS
from remediate.errors import RemediateError
from remediate.facts import parse
from remediate.policy import PolicyError, policy_for
from tests.facts_builder import Facts, fixture, stock

SWARM = "engines/swarm-28.5"


def swarm() -> Facts:
    return fixture(SWARM)


def case(check: str, change: str, facts: Facts, status: str, evidence: str):
    return pytest.param(check, facts, status, evidence, id=f"{check} {change}")


def lines(facts: Facts, name: str) -> list[dict]:
    return parse.json_lines(facts.facts.command(name).stdout)


def with_lines(facts: Facts, name: str, items: list[dict]) -> Facts:
    return facts.command(name, "".join(json.dumps(i) + "\n" for i in items), rc=0)


def edit_images(facts: Facts, **changes) -> Facts:
    """Every image of the `images` probe with these fields changed (container lines kept)."""
    return with_lines(facts, "images", [{**i, **changes} if "Id" in i else i for i in lines(facts, "images")])


def edit_swarm(facts: Facts, **changes) -> Facts:
    info = json.loads(facts.facts.command("docker_info").stdout)
    return facts.docker_info(Swarm={**info["Swarm"], **changes})


def without_healthcheck(facts: Facts, test=None) -> Facts:
    """The running image without a HEALTHCHECK (or with `test`), so its container has none either (a container
    inherits its image's)."""
    healthcheck = {"Test": test} if test else None
    facts = edit_images(facts, Healthcheck=healthcheck)
    return facts.containers(*({**c, "Healthcheck": healthcheck} for c in lines(facts, "containers")))


def unused_images(facts: Facts, count: int) -> Facts:
    extra = [
        {
            "Id": f"sha256:{n:064x}",
            "RepoTags": [f"old/app:{n}"],
            "RepoDigests": [],
            "User": "",
            "Created": "2026-11-01T00:00:00Z",
            "Healthcheck": None,
        }
        for n in range(count)
    ]
    return with_lines(facts, "images", lines(facts, "images") + extra)


def stopped_containers(facts: Facts, count: int) -> Facts:
    running = lines(facts, "containers")
    return facts.containers(*running, *({**running[0], "Name": f"/old-{n}", "Status": "exited"} for n in range(count)))


def swarm_as_cis_asks() -> Facts:
    """The same host after `docker swarm leave --force` and: swarm init --advertise-addr 127.0.0.1 --listen-addr
    127.0.0.1:2377 --data-path-addr 172.17.0.1 --autolock --cert-expiry 720h, the ingress network re-created
    with --opt encrypted, an encrypted overlay, a secret and a service using it with no published port."""
    return fixture("engines/swarm-as-cis-asks-28.5")


def locked() -> Facts:
    """swarm_as_cis_asks() after `systemctl restart docker`: an autolocked manager, locked until unlocked."""
    return fixture("engines/swarm-locked-28.5")


IMAGES_SWARM_PASS = [
    case("4.4", "the running image was built today", swarm(), PASS, "1 image(s) in use, none failing"),
    case("4.6", "the running image has a HEALTHCHECK", swarm(), PASS, "1 image(s) in use, none failing"),
    case("6.1", "one unused image (busybox), 10 allowed", swarm(), PASS, "1 of 2 image(s) run by no container"),
    case("6.2", "no stopped container", swarm(), PASS, "0 of 1 container(s) not running (policy: at most 10)"),
    case("7.1", "one manager", swarm(), PASS, "1 manager(s) of 1 node(s)"),
    case("7.2", "bound to 127.0.0.1, nothing published", swarm_as_cis_asks(), PASS, "127.0.0.1:2377"),
    case(
        "7.3",
        "every overlay encrypted (ingress too)",
        swarm_as_cis_asks(),
        PASS,
        "2 overlay network(s), all with the encrypted",
    ),
    case("7.4", "a service uses a secret", swarm_as_cis_asks(), PASS, "using swarm secrets: web"),
    case("7.5", "autolock", swarm_as_cis_asks(), PASS, "AutoLockManagers = true"),
    case("7.7", "30-day node certificates", swarm_as_cis_asks(), PASS, "every 30 days"),
    case("7.9", "data path on its own address", swarm_as_cis_asks(), PASS, "data path address 172.17.0.1"),
]

IMAGES_SWARM_FAIL = [
    case(
        "4.4",
        "an image built in 2020",
        edit_images(swarm(), Created="2020-01-02T03:04:05.123456789Z"),
        FAIL,
        "lab/app:1 (d17bc5004f1d): built 2020-01-02",
    ),
    case(
        "4.6",
        "no HEALTHCHECK in the running image",
        without_healthcheck(swarm()),
        FAIL,
        "lab/app:1 (d17bc5004f1d): no HEALTHCHECK instruction (used by web.1.",
    ),
    case("4.6", "HEALTHCHECK NONE", without_healthcheck(swarm(), ["NONE"]), FAIL, "HEALTHCHECK NONE"),
    case("6.1", "eleven unused images", unused_images(swarm(), 10), FAIL, "11 of 12 image(s) run by no container"),
    case(
        "6.2",
        "eleven stopped containers",
        stopped_containers(swarm(), 11),
        FAIL,
        "11 of 12 container(s) not running (policy: at most 10): old-0 (exited)",
    ),
    case("7.1", "two managers", edit_swarm(swarm(), Managers=2, Nodes=3), FAIL, "an even count"),
    case(
        "7.2",
        "swarm init's defaults and a published service",
        swarm(),
        FAIL,
        "dockerd listens on *:2377 (cluster management) on every interface",
    ),
    case("7.3", "ingress and an overlay unencrypted", swarm(), FAIL, "overlay network plain-overlay is not encrypted"),
    case("7.4", "the service uses no secret", swarm(), FAIL, "none of the 1 service(s) references a swarm secret: web"),
    case("7.5", "no autolock", swarm(), FAIL, "AutoLockManagers = false"),
    case("7.7", "year-long node certificates", swarm(), FAIL, "every 365 days"),
    case("7.9", "no data path address", swarm(), FAIL, "data path address (unset: the same)"),
]


def verdict(facts: Facts, check_id: str, host_vars: dict | None = None):
    results = evaluate(
        CheckContext(facts.build(), policy_for(host_vars or {}), host_name="swarm"), select(only=check_id)
    )
    return results[0]


def test_section_7_is_not_applicable_outside_a_swarm_and_on_a_locked_manager_but_its_addresses():
    for check_id in ("7.1", "7.2", "7.3", "7.4", "7.5", "7.7", "7.9"):
        result = verdict(stock(), check_id)
        assert (result.status, result.evidence) == (NA, ("this node is not in a swarm (LocalNodeState=inactive)",))
    for check_id in ("7.1", "7.4", "7.5", "7.7"):
        assert verdict(locked(), check_id).status == NA
        assert "only a manager can tell" in verdict(locked(), check_id).evidence[0]
    # a locked node serves no swarm port until unlocked: nothing to judge, not a pass
    assert verdict(locked(), "7.2").status == NA and "locked" in verdict(locked(), "7.2").evidence[0]
    assert verdict(locked(), "7.9").status == PASS  # its state file is read on a locked node too


def test_live_restore_passes_on_a_swarm_node_in_every_swarm_state_and_fails_elsewhere():
    assert "LocalNodeState=locked" in verdict(locked(), "2.15").evidence[0]
    for state in ("active", "locked", "pending", "error"):
        result = verdict(edit_swarm(swarm(), LocalNodeState=state), "2.15")
        assert result.status == PASS and f"LocalNodeState={state}" in result.evidence[0]
        assert "refuses to start with both" in result.evidence[0]
    assert verdict(stock(), "2.15").status == FAIL


def test_image_checks_judge_the_images_containers_run_and_the_policy_sets_the_thresholds():
    assert verdict(stock(), "4.6").status == NA  # captured before the images probe: not gathered
    assert "not answering" in verdict(stock(), "4.6").evidence[0]
    idle = with_lines(swarm(), "containers", [])  # the images stay, the containers that ran one are gone
    assert verdict(idle, "4.6").evidence == ("no container runs any of the 2 image(s) on this host",)
    assert verdict(swarm(), "6.1", {"remediate_policy": {"sprawl": {"unused_images": 0}}}).status == FAIL
    assert verdict(swarm(), "6.2", {"remediate_policy": {"sprawl": {"stopped_containers": 0}}}).status == PASS
    year_old = edit_images(swarm(), Created="2025-11-01T00:00:00Z")
    assert verdict(year_old, "4.4").status == FAIL
    assert verdict(year_old, "4.4", {"remediate_policy": {"images": {"max_age_days": 400}}}).status == PASS
    assert verdict(swarm(), "7.7", {"remediate_policy": {"swarm": {"max_node_cert_days": 365}}}).status == PASS
    with pytest.raises(PolicyError, match="sprawl: unknown key 'unused'"):
        policy_for({"remediate_policy": {"sprawl": {"unused": 1}}})
    with pytest.raises(PolicyError, match=r"images.max_age_days must be a whole number"):
        policy_for({"remediate_policy": {"images": {"max_age_days": "90"}}})


def test_an_image_without_healthcheck_passes_where_each_of_its_containers_checks_health_itself():
    facts = without_healthcheck(swarm())
    checked = facts.containers(*({**c, "Healthcheck": {"Test": ["CMD", "true"]}} for c in lines(facts, "containers")))
    assert verdict(checked, "4.6").status == PASS
    unchecked = facts.containers(*({**c, "Healthcheck": {"Test": ["NONE"]}} for c in lines(facts, "containers")))
    assert verdict(unchecked, "4.6").status == FAIL


@pytest.mark.parametrize(("check_id", "facts", "status", "evidence"), IMAGES_SWARM_PASS + IMAGES_SWARM_FAIL)
def test_case(check_id, facts, status, evidence):
    result = verdict(facts, check_id)
    text = "\n".join(result.evidence)
    assert result.status == ("warn" if status == FAIL and check_id in policy_for({}).advisory else status), text
    assert evidence in text, text


def test_docker_times_and_swarm_addresses_parse():
    assert parse.docker_time("2026-12-02T01:45:46.062776068Z").isoformat() == "2026-12-02T01:45:46+00:00"
    assert parse.docker_time("2026-12-02T01:45:46+01:00").utcoffset().total_seconds() == 3600
    assert parse.docker_time("yesterday") is None and parse.docker_time(None) is None
    assert [parse.host_of(a) for a in ("10.0.0.1:2377", "[fd00::1]:2377", "10.0.0.1", "eth1", "")] == [
        "10.0.0.1",
        "fd00::1",
        "10.0.0.1",
        "eth1",
        "",
    ]


def test_images_and_swarm_are_concerns_to_select_by():
    assert [c.id for c in select(only="swarm")] == ["7.1", "7.2", "7.3", "7.4", "7.5", "7.7", "7.9"]
    assert {c.id for c in select(only="images")} == {"4.4", "4.6", "6.1"}
    with pytest.raises(RemediateError, match=r"concerns: .*images, swarm"):
        select(only="swarms")
