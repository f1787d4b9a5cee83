"""CIS 4.4, 4.6, 6 and 7 and 2.15 on live hosts: the seeded failures found, the passes real.

risky-containers runs busybox (no HEALTHCHECK) and keeps two created containers; the swarm host is a manager as
`docker swarm init` leaves it, running an image with USER and HEALTHCHECK. The passing side of section 7 is the
same host set up as CIS asks, then put back as seeded.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from remediate import app
from remediate.checks import CheckContext, evaluate, select
from remediate.checks.model import FAIL, NA, PASS, WARN
from remediate.harden import HardenOptions
from remediate.policy import policy_for

pytestmark = pytest.mark.engines  # run on every Docker engine (invoke test)

SECTION_7 = ("7.1", "7.2", "7.3", "7.4", "7.5", "7.7", "7.9")
# The seeded swarm, as templates/lab/scenarios.yml sets it up (the image lab/app:1 is kept).
SEEDED_SWARM = (
    "docker swarm init --advertise-addr 127.0.0.1 --cert-expiry 8760h >/dev/null && "
    "docker network create --driver overlay plain-overlay >/dev/null && "
    "docker service create --name web --publish 8080:80 --limit-memory 64M --read-only lab/app:1 "
    "sleep 1000000000 >/dev/null 2>&1"
)
# What CIS asks of a swarm: bound to one address, a separate data path, autolock, 30-day node certificates,
# every overlay encrypted (ingress re-created so), a service given its credentials as a swarm secret.
SWARM_AS_CIS_ASKS = (
    "docker swarm leave --force >/dev/null && "
    "docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 --data-path-addr 172.17.0.1 "
    "--autolock --cert-expiry 720h >/dev/null && "
    "echo y | docker network rm ingress >/dev/null && "
    # the removal completes in the background (seconds on 20.10)
    "for i in $(seq 60); do docker network inspect ingress >/dev/null 2>&1 || break; sleep 1; done && "
    "docker network create --driver overlay --ingress --opt encrypted ingress >/dev/null && "
    "docker network create --driver overlay --opt encrypted secure-overlay >/dev/null && "
    "printf lab-only | docker secret create db-password - >/dev/null && "
    "docker service create --name web --secret db-password --network secure-overlay lab/app:1 "
    "sleep 1000000000 >/dev/null 2>&1"
)


def ssh(lab, host: str, script: str) -> str:
    result = subprocess.run(lab.lab.ssh_argv(host, [script]), capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"{host}: {result.stderr}"
    return result.stdout


def gathered(lab, host: str):
    (outcome,) = app.collect_facts(app.Target(hosts=host, inventory=str(lab.inventory_path), known_hosts=[]))
    assert outcome.ok, outcome.error
    return outcome.value


def judged(facts, only: str, policy: dict | None = None, today: dt.date | None = None) -> dict:
    ctx = CheckContext(
        facts,
        policy_for({"remediate_policy": policy} if policy else {}),
        host_name=facts.host,
        **({"today": today} if today else {}),
    )
    return {r.check.id: r for r in evaluate(ctx, select(only=only))}


def test_image_and_sprawl_checks_fail_where_seeded_and_pass_where_not(lab):
    risky, swarm = gathered(lab, "risky-containers"), gathered(lab, "swarm")
    found = judged(risky, "4.4,4.6,6.1,6.2")
    assert found["4.6"].status == FAIL and "busybox:latest" in found["4.6"].evidence[0]
    assert "no HEALTHCHECK instruction" in found["4.6"].evidence[0]
    assert {found[c].status for c in ("4.4", "6.1", "6.2")} == {PASS}
    found = judged(swarm, "4.4,4.6,6.1,6.2")
    assert {r.status for r in found.values()} == {PASS}, {c: r.evidence for c, r in found.items()}
    # the same images 100 days on, and stricter sprawl thresholds: the same facts fail
    late = judged(swarm, "4.4", today=dt.date.today() + dt.timedelta(days=100))["4.4"]
    assert late.status == FAIL and "lab/app:1" in late.evidence[0] and "(policy: at most 90)" in late.evidence[0]
    assert judged(swarm, "6.1", {"sprawl": {"unused_images": 0}})["6.1"].status == FAIL  # busybox: unused
    stopped = judged(risky, "6.2", {"sprawl": {"stopped_containers": 1}})["6.2"]
    assert stopped.status == FAIL and "privileged (created)" in stopped.evidence[0]


def test_the_seeded_swarm_fails_section_7_and_passes_2_15_and_a_plain_host_is_not_applicable(lab):
    found = judged(gathered(lab, "swarm"), "2.15,7.*")
    assert {c: found[c].status for c in SECTION_7} == {
        "7.1": PASS,
        "7.2": FAIL,
        "7.3": FAIL,
        "7.4": WARN,
        "7.5": FAIL,
        "7.7": FAIL,
        "7.9": FAIL,
    }
    assert any("*:2377" in e or "0.0.0.0:2377" in e or ":::2377" in e for e in found["7.2"].evidence)
    assert "service web: 8080/tcp->80 published in ingress mode" in "\n".join(found["7.2"].evidence)
    assert "overlay network plain-overlay is not encrypted" in found["7.3"].evidence
    assert found["2.15"].status == PASS and "LocalNodeState=active" in found["2.15"].evidence[0]
    stock = judged(gathered(lab, "stock"), "2.15,7.*")
    assert {stock[c].status for c in SECTION_7} == {NA} and stock["2.15"].status == FAIL


def test_the_swarm_managers_root_certificate_is_not_gathered(lab):
    """docker info on a manager prints the cluster's root CA (TrustRoot): the probe blanks it on the host."""
    info = gathered(lab, "swarm").command("docker_info").stdout
    assert '"TrustRoot":"(not read: a certificate)"' in info and "CERTIFICATE-----" not in info
    assert "BEGIN CERTIFICATE" in ssh(lab, "swarm", "docker info --format '{{json .Swarm.Cluster.TLSInfo}}'")


def test_harden_holds_live_restore_back_on_the_swarm_node(lab, tmp_path):
    out = tmp_path / "harden.json"
    app.harden(
        app.Target(hosts="swarm", inventory=str(lab.inventory_path), known_hosts=[]),
        HardenOptions(dry_run=True),
        json_path=out,
    )
    (host,) = json.loads(out.read_text())["hosts"]
    assert "live-restore" in {h["what"] for h in host["plan"]["held_back"]}, host["plan"]
    assert all('"live-restore"' not in (c.get("after") or "") for c in host["plan"]["changes"])


def test_a_swarm_set_up_as_cis_asks_passes_section_7(lab):
    try:
        ssh(lab, "swarm", SWARM_AS_CIS_ASKS)
        found = judged(gathered(lab, "swarm"), "7.*")
        assert {c: found[c].status for c in SECTION_7} == dict.fromkeys(SECTION_7, PASS), {
            c: r.evidence for c, r in found.items()
        }
        assert "127.0.0.1:2377" in found["7.2"].evidence[0]
    finally:
        ssh(lab, "swarm", "docker swarm leave --force >/dev/null; " + SEEDED_SWARM)
    assert judged(gathered(lab, "swarm"), "7.5")["7.5"].status == FAIL  # put back as seeded
