"""The pure halves of tests/lab/test_faults_input.py: facts shaped like the lab's hostile hosts (masked units,
no systemctl, dockerd removed but its init script left, odd daemon.json files) give a clear audit result and a
plan that refuses or changes only what it names."""

from __future__ import annotations

from remediate import checks
from remediate.apply.validation import validation_spec
from remediate.audit import audit_host
from remediate.connection.batch import READ_LIMIT, StepResult
from remediate.dockerd.daemon_json import REVIEW_LIMIT
from remediate.facts.gather import file_fact
from remediate.facts.model import FileFact
from remediate.plan import plan_host
from tests.facts_builder import stock
from tests.plan_fixtures import policy

DAEMON_JSON = "/etc/docker/daemon.json"
SOCKET_UNIT = "/etc/systemd/system/docker.socket"
SYSV_EXEC = (
    "{ path=/etc/init.d/docker ; argv[]=/etc/init.d/docker start ; ignore_errors=no ; start_time=[n/a] ; "
    "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
)


def result(facts, check_id: str):
    audit = audit_host(facts, policy(), checks.select(), facts.host)
    return next(r for r in audit.results if r.check.id == check_id)


def masked_socket():
    """`systemctl mask docker.socket` while dockerd runs: the unit file is a link to /dev/null (0666)."""
    facts = stock().socket(LoadState="masked", FragmentPath=SOCKET_UNIT, UnitFileState="masked").build()
    facts.files[SOCKET_UNIT] = FileFact(
        SOCKET_UNIT,
        "symlink",
        mode=0o666,
        uid=0,
        gid=0,
        owner="root",
        group="root",
        link_target="/dev/null",
        content=b"",
    )
    return facts


def test_a_masked_socket_is_refused_and_its_dev_null_link_never_chmodded():
    facts = masked_socket()
    plan = plan_host(facts, policy())
    assert plan.refused and "docker.socket is masked" in plan.refused and "unmask" in plan.refused
    assert result(facts, "3.4").status != "fail"  # /dev/null's mode is not the unit's
    running = result(facts, "REM-RUNNING")
    assert running.status == "fail" and any("docker.socket is masked" in e for e in running.evidence)


def test_a_masked_service_is_refused():
    facts = stock().service(LoadState="masked", ActiveState="inactive").build()
    plan = plan_host(facts, policy())
    assert plan.refused and "docker.service is masked" in plan.refused


def test_without_systemctl_harden_refuses_and_audit_says_why_the_state_is_unknown():
    facts = stock().command("service", "", rc=127).command("socket", "", rc=127).build()
    plan = plan_host(facts, policy())
    assert plan.refused and "systemctl was not found" in plan.refused
    running = result(facts, "REM-RUNNING")
    assert running.status == "not-applicable" and "systemctl was not found" in running.evidence[0]


def test_dockerd_removed_with_its_init_script_left_is_not_installed():
    # `apt remove docker.io` keeps the conffile /etc/init.d/docker; systemd generates docker.service from it.
    facts = (
        stock()
        .command("dockerd_version", "", rc=127)
        .service(ExecStart=SYSV_EXEC, FragmentPath="/run/systemd/generator.late/docker.service", ActiveState="inactive")
        .build()
    )
    plan = plan_host(facts, policy())
    assert plan.empty and not plan.refused and "not installed" in plan.notes[0]
    assert result(facts, "2.2").status == "not-applicable"


def test_a_symlinked_drop_in_is_never_chmodded_through():
    dropin = "/etc/systemd/system/docker.service.d/limits.conf"
    facts = stock().service(DropInPaths=dropin).build()
    facts.files[dropin] = FileFact(
        dropin,
        "symlink",
        mode=0o666,
        uid=0,
        gid=0,
        owner="root",
        group="root",
        link_target="/srv/shared/limits.conf",
        content=b"[Service]\nLimitNOFILE=1024\n",
    )
    assert result(facts, "3.2").status == "fail"
    plan = plan_host(facts, policy())
    assert not plan.refused and all(c.path != dropin for c in plan.changes)
    assert "3.2" in plan.still_failing


def test_a_directory_as_daemon_json_is_a_fatal_problem_in_audit():
    facts = stock().build()
    facts.files[DAEMON_JSON] = FileFact(DAEMON_JSON, "dir", mode=0o755, uid=0, gid=0, owner="root", group="root")
    config = result(facts, "REM-CONFIG")
    assert (
        config.status == "fail" and "is a directory" in config.evidence[0] and "refuses to start" in config.evidence[0]
    )
    assert plan_host(facts, policy(), repair_json=True).refused


def test_a_daemon_json_too_large_to_read_is_never_judged_or_repaired_from_its_first_bytes():
    result_ = StepResult(
        rc=0,
        stdout=b'{"debug": false,' + b" " * 100,
        stderr=b"",
        meta={
            "kind": "file",
            "mode": "644",
            "owner": "root",
            "group": "root",
            "size": str(READ_LIMIT + 5),
            "truncated": "1",
        },
    )
    fact = file_fact(DAEMON_JSON, result_)
    assert fact.content is None and str(READ_LIMIT + 5) in fact.error
    facts = stock().build()
    facts.files[DAEMON_JSON] = fact
    config = result(facts, "REM-CONFIG")
    assert config.status == "fail" and "was not read" in config.evidence[0]
    plan = plan_host(facts, policy(), repair_json=True)
    assert plan.refused and "could not be read" in plan.refused and not plan.changes


def test_symlinked_or_huge_daemon_json_is_noted_in_audit_where_harden_will_not_rewrite_it():
    facts = stock().build()
    facts.files[DAEMON_JSON] = FileFact(
        DAEMON_JSON,
        "symlink",
        mode=0o644,
        uid=0,
        gid=0,
        owner="root",
        group="root",
        link_target="real.json",
        content=b'{"debug": false}\n',
    )
    config = result(facts, "REM-CONFIG")
    assert config.status == "pass" and any("symlink to real.json" in e for e in config.evidence)
    assert "symlink" in plan_host(facts, policy()).refused
    huge = stock().daemon_json_text('{"debug": false' + "\n" * REVIEW_LIMIT + "}\n").build()
    config = result(huge, "REM-CONFIG")
    assert config.status == "pass" and any("over the" in e for e in config.evidence)
    assert "too large" in plan_host(huge, policy()).refused


def test_a_duplicate_key_rewrite_says_which_value_it_keeps():
    facts = stock().daemon_json_text('{\n  "debug": true,\n  "debug": false\n}\n').build()
    plan = plan_host(facts, policy())
    assert '"debug": false' in plan.change(DAEMON_JSON).after.decode()
    assert any("'debug' is set 2 times" in n and "keeps only that one" in n for n in plan.notes)


def test_drift_evidence_stays_short_for_huge_values():
    facts = stock().daemon_json({"labels": ["a" * 100000]}).build()
    drift = result(facts, "REM-DRIFT")
    assert drift.status == "fail" and len(drift.evidence[0]) < 600 and "characters)" in drift.evidence[0]


def test_every_changed_path_is_probed_for_immutable_flags_and_read_only_filesystems():
    facts = stock().build()
    plan = plan_host(facts, policy())
    probes = {p.arg for p in validation_spec(facts, plan).probes if p.kind == "writable"}
    assert probes == {c.path for c in plan.changes} and DAEMON_JSON in probes
