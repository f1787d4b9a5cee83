"""Audit rules and audited paths compared as the host resolves them, not as strings (CIS 1.1.3-1.1.18).

An audit watch follows the links on the way to its last name: on trixie, where /lib is a link to usr/lib,
`-w /lib/systemd/system/docker.service` watches the unit systemd reports as /usr/lib/systemd/system/docker.service;
on bookworm systemd reports /lib/... and a rule may say /usr/lib/... The facts are captured on lab hosts:
hardened-26.1 and hardened-28.5 as booted (rules written with /lib/...), hardened-respelled-20.10 a 20.10
hardened host whose rules.d file was rewritten before the capture to spell every other path another way:

    sed -i -e 's#^-w /lib/#-w /usr/lib/#' -e 's#^-w /etc/docker -k#-w /etc/docker/ -k#' \\
        -e 's#^-w /run/containerd/containerd.sock#-w /var/run/containerd/containerd.sock#' \\
        -e 's#^-w /usr/sbin/dockerd#-w /sbin/dockerd#' \\
        -e 's#^-w /usr/sbin/runc -k docker#-a always,exit -F path=/sbin/runc -F perm=x -k docker#' \\
        /etc/audit/rules.d/docker.rules
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from remediate import checks
from remediate.audit import audit_host
from remediate.checks import CheckContext
from remediate.checks.host import AUDITED
from remediate.checks.model import FAIL, NA, PASS, WARN
from remediate.facts import parse
from remediate.facts.model import CommandFact, HostFacts
from remediate.facts.probes import SNIPPETS
from remediate.plan import apply_plan, plan_host
from remediate.plan.auditd_rules import RULES_PATH
from remediate.plan.simulate import copy_facts
from remediate.policy import policy_for

ENGINES = Path(__file__).parent.parent / "fixtures" / "facts" / "engines"
CAPTURES = ("hardened-26.1", "hardened-28.5", "hardened-respelled-20.10")
TRIXIE_SERVICE = "/usr/lib/systemd/system/docker.service"


def load(name: str) -> HostFacts:
    return HostFacts.load(ENGINES / f"{name}.json")


def audit(facts: HostFacts):
    return {r.check.id: r for r in audit_host(facts, policy_for({}), checks.select(), facts.host).results}


def with_rules(facts: HostFacts, text: str) -> HostFacts:
    facts = copy_facts(facts)
    facts.files[RULES_PATH] = replace(facts.files[RULES_PATH], content=text.encode(), size=len(text))
    return facts


def rules_text(facts: HostFacts) -> str:
    return facts.file(RULES_PATH).text()


# --- the comparison ------------------------------------------------------------------------------------

RESOLVED = {
    "/lib/systemd/system": "/usr/lib/systemd/system",
    "/var/run": "/run",
    "/sbin": "/usr/sbin",
    "/lib": "/usr/lib",
}


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/lib/systemd/system/docker.service", TRIXIE_SERVICE),
        (TRIXIE_SERVICE, TRIXIE_SERVICE),
        ("/etc/docker/", "/etc/docker"),
        ("//etc//docker//", "/etc/docker"),
        ("/var/run/containerd/containerd.sock", "/run/containerd/containerd.sock"),  # nearest resolved ancestor
        ("/sbin/dockerd", "/usr/sbin/dockerd"),
        ("/lib", "/lib"),  # the last name stays as written: a watch on a link is on the link
        ("/", "/"),
        ("relative/path", "relative/path"),
    ],
)
def test_canonical_path_resolves_the_directory_and_keeps_the_last_name(path, canonical):
    assert parse.canonical_path(path, RESOLVED) == canonical


def test_without_any_resolution_paths_are_only_normalised():
    assert parse.canonical_path("/lib/systemd/system/docker.service/", {}) == "/lib/systemd/system/docker.service"


# --- the probe --------------------------------------------------------------------------------------


def run_audit_dirs(tmp_path, rules: dict[str, str], auditctl: str = "") -> subprocess.CompletedProcess:
    audit_dir = tmp_path / "audit"
    (audit_dir / "rules.d").mkdir(parents=True)
    for name, text in rules.items():
        (audit_dir / name).write_text(text)
    (tmp_path / "auditctl").write_text(auditctl)
    snippet = SNIPPETS["audit_dirs"].replace("/etc/audit", str(audit_dir))
    assert snippet != SNIPPETS["audit_dirs"]
    return subprocess.run(
        ["/bin/sh", "-c", snippet],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "AUDITCTL": str(tmp_path / "auditctl")},
        check=False,
    )


def test_the_probe_resolves_the_directory_of_every_watched_path_once(tmp_path):
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to("real")
    link, real = tmp_path / "link", tmp_path / "real"
    result = run_audit_dirs(
        tmp_path,
        {
            "rules.d/docker.rules": (
                f"# -w /commented/out\n-w {link}/sub/file -p wa -k docker\n-w /etc/docker/ -k docker\n"
                f"-a always,exit -F path={link}/bin -F perm=x -k docker\n-w relative -k x\n"
                "-a always,exit -F dir=/var/lib/docker/ -k docker"
            ),  # no newline at the end
            "audit.rules": f"-w {link}/sub/other -k docker\n",
        },
        auditctl="-w /etc/docker/daemon.json -p rwxa -k docker\n",
    )
    assert result.returncode == 0, result.stderr
    assert parse.resolved_dirs(result.stdout) == {
        f"{link}/sub": f"{real}/sub",
        "/etc": "/etc",
        str(link): str(real),
        "/var/lib": "/var/lib",
        "/etc/docker": "/etc/docker",
    }
    assert len(result.stdout.splitlines()) == 5


def test_the_probe_prints_nothing_without_rules(tmp_path):
    result = run_audit_dirs(tmp_path, {}, auditctl="No rules\n")
    assert (result.returncode, result.stdout) == (0, "")


def test_stock_hosts_still_answer_in_one_round_trip():
    """The probe reads the rules files in round 1: no rules.d file, no second round (tests/lab/test_facts.py)."""
    for engine in ("26.1", "28.5"):
        facts = load(f"broken-json-{engine}")
        assert facts.round_trips == 1 and facts.command("audit_dirs") == CommandFact(0, "", "")


# --- the checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_audited_path_is_found_watched_under_another_spelling(capture):
    results = audit(load(capture))
    statuses = {i: results[i].status for i in AUDITED}
    applicable = {i for i, s in statuses.items() if s != NA}
    assert {statuses[i] for i in applicable} == {PASS}, {i: results[i].evidence for i in applicable}
    assert {i for i, s in statuses.items() if s == NA} == (
        {"1.1.13", "1.1.15", "1.1.16"} if capture.endswith("28.5") else {"1.1.13"}
    )


def test_trixie_units_are_watched_through_lib():
    results = audit(load("hardened-26.1"))
    assert results["1.1.7"].evidence == (
        (
            f"{RULES_PATH}:5: -w /lib/systemd/system/docker.service -k docker "
            f"(the same file as {TRIXIE_SERVICE} on this host)"
        ),
    )


def test_bookworm_units_are_watched_through_usr_lib_and_a_trailing_slash_is_the_directory():
    results = audit(load("hardened-respelled-20.10"))
    assert results["1.1.7"].evidence == (
        (
            f"{RULES_PATH}:5: -w /usr/lib/systemd/system/docker.service -k docker (the same file as "
            "/lib/systemd/system/docker.service on this host: /usr/lib/systemd/system/docker.service)"
        ),
    )
    assert "-w /etc/docker/ -k docker (the same file as /etc/docker on this host)" in results["1.1.6"].evidence[0]
    assert "-F path=/sbin/runc" in results["1.1.18"].evidence[0]


def test_a_rule_on_another_file_still_fails_with_how_the_host_resolves_the_path():
    facts = load("hardened-26.1")
    facts = with_rules(
        facts,
        rules_text(facts).replace(
            "-w /lib/systemd/system/docker.service -k docker\n", "-w /lib/systemd/system/docker.service.d -k docker\n"
        ),
    )
    result = audit(facts)["1.1.7"]
    assert result.status == FAIL
    assert result.evidence[0] == f"no audit rule watches {TRIXIE_SERVICE} exactly (15 rules in audit rules files)"


def test_a_watch_on_a_link_is_not_a_watch_on_its_target():
    """dockerd is /usr/sbin/dockerd; a rule on /usr/local/bin/dockerd, were it a link to it, watches the link."""
    facts = load("hardened-26.1")
    facts.commands["audit_dirs"] = CommandFact(
        0, facts.command("audit_dirs").stdout + "/usr/local/bin\t/usr/local/bin\n"
    )
    facts = with_rules(facts, rules_text(facts).replace("-w /usr/sbin/dockerd ", "-w /usr/local/bin/dockerd "))
    assert audit(facts)["1.1.3"].status == FAIL


def test_the_context_compares_through_one_function():
    ctx = CheckContext(load("hardened-28.5"), policy_for({}))
    assert ctx.canonical("/lib/systemd/system/docker.socket") == "/usr/lib/systemd/system/docker.socket"
    assert [r.line for r in ctx.rules_watching("/usr/lib/systemd/system/docker.socket")] == [7]


# --- the plan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", CAPTURES)
def test_harden_plans_no_second_watch_for_a_path_watched_under_another_spelling(capture):
    plan = plan_host(load(capture), policy_for({}))
    assert plan.change(RULES_PATH) is None and "load-audit-rules" not in plan.action_kinds()


@pytest.mark.parametrize("capture", CAPTURES)
def test_rules_loaded_under_another_spelling_need_no_load(capture):
    """auditctl -l prints the rules as written; the kernel already holds every watch."""
    facts = copy_facts(load(capture))
    facts.commands["auditctl"] = CommandFact(
        0, "".join(line.replace(" -k", " -p rwxa -k") + "\n" for line in rules_text(facts).splitlines())
    )
    plan = plan_host(facts, policy_for({}))
    assert plan.change(RULES_PATH) is None and "load-audit-rules" not in plan.action_kinds()


def test_only_the_watches_really_missing_are_appended_in_the_hosts_spelling():
    facts = load("hardened-26.1")
    text = rules_text(facts)
    facts = with_rules(
        facts,
        text.replace("-w /lib/systemd/system/docker.service -k docker\n", "").replace(
            "-w /usr/sbin/runc -k docker\n", ""
        ),
    )
    plan = plan_host(facts, policy_for({}))
    change = plan.change(RULES_PATH)
    added = change.after.decode()[len(rules_text(facts)) :]
    assert added == f"-w {TRIXIE_SERVICE} -k docker\n-w /usr/sbin/runc -k docker\n"
    assert change.fixes == ("1.1.7", "1.1.18")
    after = apply_plan(facts, plan)
    assert {audit(after)[i].status for i in ("1.1.7", "1.1.9", "1.1.18")} == {PASS}
    assert plan_host(after, policy_for({})).change(RULES_PATH) is None


# --- the data root and the configuration file where dockerd has them (1.1.5, 1.1.11) --------------------
# stock-config-file-28.5: a stock 28.5 host given a docker.service drop-in whose ExecStart adds
# --config-file=/etc/docker/custom.json, that file holding {"data-root": "/srv/docker"}, dockerd restarted;
# stock-data-root-flag-20.10: a stock 20.10 host with DOCKER_OPTS="--data-root /srv/docker2" appended to
# /etc/default/docker, dockerd restarted. Both captured running.

MOVED = {
    "stock-config-file-28.5": ("/srv/docker", "/etc/docker/custom.json"),
    "stock-data-root-flag-20.10": ("/srv/docker2", None),
}


@pytest.mark.parametrize("capture", sorted(MOVED))
def test_the_data_root_and_config_file_audited_are_dockerds(capture):
    root, config = MOVED[capture]
    results = audit(load(capture))
    assert results["1.1.5"].evidence[0] == f"no audit rule watches {root} exactly (0 rules in audit rules files)"
    if config:
        assert results["1.1.11"].evidence[0] == f"no audit rule watches {config} exactly (0 rules in audit rules files)"
    else:
        assert (results["1.1.11"].status, results["1.1.11"].evidence[0]) == (
            NA,
            "/etc/docker/daemon.json does not exist on this host",
        )


@pytest.mark.parametrize("capture", sorted(MOVED))
def test_harden_watches_the_moved_data_root_and_config_file(capture):
    root, config = MOVED[capture]
    facts = load(capture)
    plan = plan_host(facts, policy_for({"remediate_policy": {"auditd_data_dirs": "recursive"}}))
    rules = plan.change(RULES_PATH).after.decode().splitlines()
    assert f"-w {root} -k docker" in rules and "-w /var/lib/docker -k docker" not in rules
    if config:
        assert f"-w {config} -k docker" in rules and "-w /etc/docker/daemon.json -k docker" not in rules
    after = audit(apply_plan(facts, plan))
    assert after["1.1.5"].status == after["1.1.11"].status == PASS


def test_a_moved_data_root_is_unknown_while_dockerd_does_not_answer():
    """The moved root is not among the gathered paths; only the running dockerd's DockerRootDir shows it."""
    facts = copy_facts(load("stock-config-file-28.5"))
    facts.commands["docker_info"] = load("broken-json-28.5").command("docker_info")
    result = audit(facts)["1.1.5"]
    assert (result.status, result.evidence[0]) == (
        NA,
        (
            "data-root /srv/docker is not among the paths gathered, and the running dockerd does not report it as "
            "its root: whether it exists is unknown"
        ),
    )


def test_a_moved_data_root_under_userns_remap_is_the_parent_of_dockerds_root():
    from tests.facts_builder import Facts

    facts = (
        Facts(load("hardened-28.5"))
        .daemon_json({"data-root": "/srv/docker"})
        .docker_info(DockerRootDir="/srv/docker/165536.165536")
        .build()
    )
    result = audit(facts)["1.1.5"]
    # a warning under the default policy: data directories are watched only with auditd_data_dirs: recursive
    assert (result.status, result.evidence[0]) == (
        WARN,
        "no audit rule watches /srv/docker exactly (15 rules in audit rules files)",
    )
