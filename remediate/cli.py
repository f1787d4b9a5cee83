"""remediate's command line: thin Invoke tasks, each one call into the package.

One Collection, two programs: `invoke` in a checkout (tasks.py re-exports it, relative defaults resolve against
the checkout) and the `remediate` console script of an installed package (main(), relative defaults resolve
against the current directory). `--list` shows the tasks; `--help TASK` explains every option.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from invoke import Collection, Exit, Program, task

from remediate import __version__, app, output
from remediate import report as reports
from remediate.errors import RemediateError, UsageError
from remediate.inventory.shard import parse_shard
from remediate.lab.fleet import SCENARIO_ORDER, Lab
from remediate.lab.host import Latency

# `invoke test`: every test on the first engine, the tests marked `engines` on the others.
TEST_ENGINES = ("newest", "20.10", "26.1")


TARGET_HELP = {
    "hosts": "Host pattern: a host, a group, 'web*', '~regex', 'prod:!db1', 'prod:&eu', comma lists; "
    "a bare NAME selects inventories/NAME.yml.",
    "inventory": "Inventory file (YAML or INI); default: chosen from --hosts, else inventories/lab.yml.",
    "forks": "How many hosts to work on in parallel (default 10).",
    "accept_new_host_keys": "Record host keys of hosts never seen before (like OpenSSH accept-new); "
    "a changed key is always refused.",
    "ask_become_pass": "Prompt for the sudo password (or set REMEDIATE_BECOME_PASSWORD).",
}


def _lab(name: str) -> Lab:
    return Lab(name, log=output.info)


def _root(c) -> Path:
    """The directory relative defaults resolve against (inventories/, reports/lab, tests/): see collection()."""
    return Path(c.config.remediate.root)


def _lab_inventory(c) -> Path:
    return _root(c) / "inventories" / "lab.yml"


# The options of the read-only runs (facts, audit, harden --dry-run): README "Sharding" and "Performance".
READ_ONLY_HELP = {
    "shard": "Only shard K of N of the matched hosts (K counts from 1: 1/3, 2/3, 3/3; 'auto/N' takes K from "
    "$JOB_COMPLETION_INDEX + 1, as in a Kubernetes Indexed Job); a host is always in the same shard. "
    "Merge the shards' --json documents with `report --merge`.",
    "processes": "Spread the hosts over this many worker processes (read-only runs), each with its share of "
    "--forks: a number, or 'auto' (one per core, when each gets --forks hosts). Default 1.",
}


def _target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass, shard=None, processes="1") -> app.Target:
    return app.Target(
        hosts=hosts,
        inventory=inventory,
        inventories_dir=_root(c) / "inventories",
        forks=int(forks),
        accept_new_host_keys=accept_new_host_keys,
        ask_become_pass=ask_become_pass,
        shard=parse_shard(str(shard)) if shard else None,
        processes=_processes(processes),
    )


def _processes(text) -> int | None:
    """--processes N or auto (None: remediate.runner.auto_processes decides)."""
    if str(text).strip().lower() == "auto":
        return None
    if not str(text).strip().isdigit() or int(text) < 1:
        raise RemediateError(f"--processes {text!r}: give a number of processes (at least 1) or auto")
    return int(text)


def _checkout_only(name: str, needed: Path) -> None:
    """test and bench use files only a checkout has (tests/, bench/): an installed package says so."""
    if not needed.is_dir():
        raise Exit(f"{name}: needs a checkout of remediate ({needed} does not exist); run it there with invoke", code=1)


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(help={**TARGET_HELP, **READ_ONLY_HELP, "save": "Also save each host's facts as JSON in this directory."})
def facts(
    c,
    hosts="lab",
    inventory=None,
    forks=10,
    accept_new_host_keys=False,
    ask_become_pass=False,
    save=None,
    shard=None,
    processes="1",
):
    """Gather each host's Docker facts in one batched round trip and show a summary.

    Exit codes: 0 every host read, 3 some hosts unreachable, 1 errors (a host failed, bad input).
    """
    try:
        code = app.show_facts(
            _target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass, shard, processes),
            Path(save) if save else None,
        )
    except RemediateError as exc:
        raise Exit(output.ours(f"facts: {exc}"), code=1) from None
    _exit(code)


AUDIT_HELP = {
    "only": "Only these checks: comma-separated ids or globs (2.9, 1.1.*, REM-TCP) or concerns "
    "(host, audit, daemon, files, containers, images, swarm).",
    "skip": "Skip these checks (same syntax as --only).",
    "fail_on": "Lowest severity of a failure that makes the exit code 2: info, low, medium, high (default), critical.",
    "profile": "Policy profile from policies/ (default: 'default'; hosts may set remediate_profile).",
    "json": "Write the results document (JSON, format remediate.results/1) to this file.",
    "show_passed": "Also list passed, informational and not-applicable checks.",
    "report": "Also write the reports (report.html, report.md, results.json, junit.xml, results.sarif) "
    "into this directory.",
}


@task(help={**TARGET_HELP, **AUDIT_HELP, **READ_ONLY_HELP})
def audit(
    c,
    hosts="lab",
    inventory=None,
    forks=10,
    accept_new_host_keys=False,
    ask_become_pass=False,
    only=None,
    skip=None,
    fail_on="high",
    profile=None,
    json=None,
    show_passed=False,
    report=None,
    shard=None,
    processes="1",
):
    """Audit how Docker is configured on each host (CIS Docker Benchmark + practices). Changes nothing.

    Exit codes: 0 nothing failing at or above --fail-on, 2 such failures, 3 some hosts unreachable,
    1 errors (a host failed, a check errored, a waiver expired).
    """
    opts = app.AuditOptions(
        only=only,
        skip=skip,
        fail_on=fail_on,
        profile=profile,
        json_path=Path(json) if json else None,
        show_passed=show_passed,
        report_dir=Path(report) if report else None,
    )
    try:
        target = _target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass, shard, processes)
        code = app.audit(target, opts)
    except RemediateError as exc:
        raise Exit(output.ours(f"audit: {exc}"), code=1) from None
    _exit(code)


REPORT_HELP = {
    "results": "Results document(s) to render: the JSON written by audit or harden (--json); several "
    "comma-separated names or a glob ('shards/*.json') are merged into one fleet report.",
    "merge": "More results documents to merge in (comma-separated, globs allowed): inventory shards or re-runs; "
    "a host found in several keeps the entry of the run that started last.",
    "format": f"Formats to write, comma-separated: {reports.ALL} (default: all of them).",
    "out": "Directory the reports are written to (report.html, report.md, results.json, junit.xml, "
    "results.sarif); default: reports/.",
}


@task(help=REPORT_HELP)
def report(c, results, merge=None, format=reports.ALL, out="reports"):
    """Render saved results as HTML, Markdown, JSON, JUnit XML and SARIF; several runs merge into one report.

    Exit codes: 0 written, 1 errors (a missing or invalid results document, runs of different kinds).
    """
    try:
        written = reports.report_files(reports.paths_from(results, merge), Path(out), format)
    except RemediateError as exc:
        raise Exit(output.ours(f"report: {exc}"), code=1) from None
    for path in written:
        output.info(f"report written to {path}")


HARDEN_HELP = {
    "dry_run": "Show the plan (colored diffs, actions, impacts) and validate it on each host; change nothing.",
    "yes": "Apply without asking for confirmation (automation).",
    "accept_risk": "Apply changes the policy holds back, comma-separated (e.g. userns-remap); see the impacts.",
    "repair_json": "Replace a daemon.json that cannot be parsed with the policy's settings (a copy is kept "
    "next to it; its own settings are lost).",
    "profile": "Policy profile from policies/ (default: 'default'; hosts may set remediate_profile).",
    "batch_size": "Hosts per rollout batch: a number or a percentage of the hosts with changes (default 100%).",
    "max_fail": "Stop starting new batches once this many hosts have failed or rolled back (default 1).",
    "canary": "Apply to this one host first (a host name, or 'first'), then to the batches.",
    "restart_timeout": "Seconds to wait for dockerd after a reload or restart before rolling back (default 90).",
    "carry_images": "When userns-remap moves dockerd's image store, carry every tagged image into the new one "
    "(docker save before the restart, docker load after); by default only the verify image.",
    "json": "Write the results document (JSON, remediate.results/1, kind harden) to this file.",
    "report": "Also write the reports (HTML, Markdown, JSON, JUnit XML, SARIF) of this run into this directory.",
}


@task(help={**TARGET_HELP, **HARDEN_HELP, **READ_ONLY_HELP})
def harden(
    c,
    hosts="lab",
    inventory=None,
    forks=10,
    accept_new_host_keys=False,
    ask_become_pass=False,
    dry_run=False,
    yes=False,
    accept_risk="",
    repair_json=False,
    profile=None,
    batch_size="100%",
    max_fail=1,
    canary=None,
    restart_timeout=90,
    carry_images=False,
    json=None,
    report=None,
    shard=None,
    processes="1",
):
    """Harden Docker on each host: plan, show diffs, validate, then apply safely with automatic rollback.

    Exit codes: 0 done or nothing to change, 2 changes pending (dry-run) or a fixable check left failing that
    the policy does not hold back (the plan's held back and notes say why), 3 some hosts unreachable,
    1 errors (a host refused, failed, rolled back or was skipped).
    """
    opts = app.HardenOptions(
        dry_run=dry_run,
        yes=yes,
        repair_json=repair_json,
        profile=profile,
        accept_risk=frozenset(r.strip() for r in accept_risk.split(",") if r.strip()),
        batch_size=str(batch_size),
        max_fail=int(max_fail),
        canary=canary,
        restart_timeout=int(restart_timeout),
        carry_images=carry_images,
    )
    try:
        code = app.harden(
            _target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass, shard, processes),
            opts,
            json_path=Path(json) if json else None,
            report_dir=Path(report) if report else None,
        )
    except RemediateError as exc:
        raise Exit(output.ours(f"harden: {exc}"), code=1) from None
    _exit(code)


@task(
    help={
        **TARGET_HELP,
        "run": "The harden run id to undo (see the recap or /var/lib/remediate/runs); default: each host's "
        "newest run whose changes are live.",
        "force": "Restore even if the files were changed since that run (their later edits are lost).",
        "restart_timeout": "Seconds to wait for dockerd after the restart (default 90).",
    }
)
def rollback(
    c,
    hosts="lab",
    inventory=None,
    forks=10,
    accept_new_host_keys=False,
    ask_become_pass=False,
    run=None,
    force=False,
    restart_timeout=90,
):
    """Undo a harden run from its backups on each host: same lock, checks and atomic writes as harden.

    Exit codes: 0 restored or nothing to undo, 3 some hosts unreachable, 1 errors (a host refused or failed).
    """
    try:
        code = app.rollback(
            _target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass),
            run,
            force=force,
            restart_timeout=int(restart_timeout),
        )
    except RemediateError as exc:
        raise Exit(output.ours(f"rollback: {exc}"), code=1) from None
    _exit(code)


@task(help={**TARGET_HELP, "force": "Also clear a lock whose run may still be alive."})
def unlock(c, hosts="lab", inventory=None, forks=10, accept_new_host_keys=False, ask_become_pass=False, force=False):
    """Clear the harden lock a dead run left on each host (refuses while the holder may be alive).

    Exit codes: 0 cleared or not locked, 3 some hosts unreachable, 1 errors (a lock that may be alive).
    """
    try:
        code = app.unlock(_target(c, hosts, inventory, forks, accept_new_host_keys, ask_become_pass), force=force)
    except RemediateError as exc:
        raise Exit(output.ours(f"unlock: {exc}"), code=1) from None
    _exit(code)


@task(
    help={
        "extra": "Also boot N plain 'stock' hosts.",
        "docker": "Docker engine of the lab: 20.10 (default for a new lab), 26.1, 28.5 or newest "
        "(Debian unstable's, whatever version it now is); a running lab keeps its own.",
        "with": "Also boot these optional scenarios, comma-separated (docker-ce).",
        "name": "Lab to run the demo on (default: 'default', whose inventory is inventories/lab.yml).",
    }
)
def demo(c, extra=0, docker=None, with_=None, name="default"):
    """The main job on the built-in lab: boot it, audit every host, dry-run harden (diffs), write the report.

    Exits 0 once the report is written: the lab is seeded with findings and a broken host on purpose.
    """
    lab_up(c, extra=extra, name=name, docker=docker, with_=with_)
    inventory = _lab_inventory(c) if name == "default" else _lab(name).inventory_path
    target = _target(c, "lab", str(inventory), 10, False, False)
    out = _root(c) / "reports" / "lab"
    try:
        app.audit(target, app.AuditOptions(json_path=out / "audit.json"))
        app.harden(target, app.HardenOptions(dry_run=True), json_path=out / "harden-dry-run.json", report_dir=out)
    except RemediateError as exc:
        raise Exit(output.ours(f"demo: {exc}"), code=1) from None
    output.info(f"\nreport of the dry run: {out / 'report.html'} (also report.md, junit.xml, results.sarif)")


@task(
    help={
        "rounds": "Measured rounds; each runs every contestant once, in a rotating order (default 5).",
        "forks": "Hosts worked on in parallel by every contestant (default 10).",
        "hosts": "Plain lab hosts to boot and measure on (default 20).",
        "scale": "Inventory sizes for the scale run of remediate, comma-separated, aliasing the lab hosts "
        "(default 20,100,500,5000; 'none' to skip).",
        "scale_forks": "Also run the second-largest scale size at these --forks, at every RTT (default 10,50,200; "
        "'none' to skip).",
        "rtt_ms": "Round trips to measure at, comma-separated ms (default 0,40): the lab's relay delays every byte "
        "(lab.up --rtt-ms) and counts each contestant's round trips.",
        "jitter_ms": "Jitter of every RTT above 0 (default 0).",
        "probes": "Measure what each probe of remediate's first batch costs a lab host (default on).",
        "out": "Where the JSON results go (default reports/bench.json; run logs beside it in bench-logs/).",
        "keep_lab": "Leave the bench lab running afterwards (a lab that was already running is always left running).",
        "name": "Lab name (default: 'bench').",
    }
)
def bench(
    c,
    rounds=5,
    forks=10,
    hosts=20,
    scale="20,100,500,5000",
    out="reports/bench.json",
    keep_lab=False,
    name="bench",
    rtt_ms="0,40",
    jitter_ms=0.0,
    scale_forks="10,50,200",
    probes=True,
):
    """Benchmark remediate's fleet dry-run against Ansible, pyinfra and a bare-paramiko floor on the lab.

    Needs the optional extra: .venv/bin/pip install -e '.[bench]' (installs ansible-core and pyinfra).
    """
    from remediate.bench.contestants import BENCH_DIR
    from remediate.bench.suite import BenchOptions, run_bench

    _checkout_only("bench", BENCH_DIR)
    try:
        run_bench(
            BenchOptions(
                rounds=int(rounds),
                forks=int(forks),
                hosts=int(hosts),
                scale=_numbers("scale", scale, int),
                out=Path(out),
                lab=name,
                keep_lab=keep_lab,
                rtt_ms=_numbers("rtt-ms", rtt_ms, float),
                jitter_ms=float(jitter_ms),
                scale_forks=_numbers("scale-forks", scale_forks, int),
                probes=probes,
            )
        )
    except RemediateError as exc:
        raise Exit(output.ours(f"bench: {exc}"), code=1) from None


def _numbers(option: str, text, convert) -> tuple:
    """A comma-separated list of numbers ('none' or nothing: no values); a bad one is a user error."""
    if str(text).strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(convert(n) for n in str(text).split(","))
    except ValueError:
        raise UsageError(f"--{option} {text!r}: give comma-separated numbers like 20,100 or 'none'") from None


@task(
    help={
        "extra": "Also boot N plain 'stock' hosts (stock-01..stock-N) for scale and benchmark work.",
        "name": "Lab name; each lab has its own hosts, keys and inventory (default: 'default').",
        "docker": "Docker engine: 20.10 (Debian 12, the default for a new lab), 26.1 (Debian 13) or newest "
        "(alias 28.5: Debian unstable's engine on Debian 13, whatever version unstable now has). "
        "Each has its own cached base image; a lab runs one engine, and a running lab keeps its own "
        "(asking it for another one is refused: lab.down first, or use another --name).",
        "with": "Also boot these optional scenarios, comma-separated (docker-ce: Docker's own packaging layout). "
        "Not remembered: a later lab.up without it stops them.",
        "rtt_ms": "Delay every byte to and from each host (from here and from the bastion) so a round trip takes "
        "this many ms, in the relay in front of the host (default 0: no delay). Not remembered, like --with.",
        "jitter_ms": "Each round trip varies by up to +-this many ms (uniform per direction); never reorders bytes.",
    }
)
def lab_up(c, extra=0, name="default", docker=None, with_=None, rtt_ms=0.0, jitter_ms=0.0):
    """Boot the lab fleet (one host per scenario plus a bastion) on one Docker engine; idempotent."""
    try:
        optional = tuple(s.strip() for s in (with_ or "").split(",") if s.strip())
        latency = Latency(float(rtt_ms), float(jitter_ms))
        lab = Lab(name, log=output.info, engine=docker, scenario_names=SCENARIO_ORDER + optional, latency=latency)
        lab.up(extra=int(extra), inventory_copy=_lab_inventory(c) if name == "default" else None)
    except RemediateError as exc:
        raise Exit(output.ours(f"lab.up: {exc}"), code=1) from None
    output.lab_status(lab.status(), inventory=_lab_inventory(c) if name == "default" else lab.inventory_path)
    _lab_engine_line(lab)


def _lab_engine_line(lab: Lab) -> None:
    info = lab.engine_info()
    if info.get("dockerd"):
        output.info(
            f"engine: {info['engine']} (image {info['image']}: dockerd {info['dockerd']}, "
            f"containerd {info['containerd']}, runc {info['runc']})"
        )


@task(help={"name": "Lab name (default: 'default')."})
def lab_down(c, name="default"):
    """Stop every lab host by its recorded PID and delete its files; harmless when nothing runs."""
    try:
        stopped = _lab(name).down()
    except RemediateError as exc:
        raise Exit(output.ours(f"lab.down: {exc}"), code=1) from None
    if name == "default" and _lab_inventory(c).exists():
        _lab_inventory(c).unlink()
    output.info(f"stopped {len(stopped)} lab host(s)" if stopped else "no lab hosts were running")


@task(help={"name": "Lab name (default: 'default')."})
def lab_status(c, name="default"):
    """Show each lab host: scenario, SSH port, whether it runs, dockerd's state and version; the engine."""
    lab = _lab(name)
    rows = lab.status()
    output.lab_status(rows, inventory=lab.inventory_path)
    if rows:
        _lab_engine_line(lab)
    if not rows or not all(r.alive for r in rows):
        raise Exit(code=1)


@task(
    help={
        "host": "Lab host name (see lab.status).",
        "command": "Run this command instead of an interactive shell.",
        "name": "Lab name (default: 'default').",
    }
)
def lab_ssh(c, host, command=None, name="default"):
    """Open a shell (or run a command) on a lab host, with strict host-key checking."""
    try:
        argv = _lab(name).ssh_argv(host, [command] if command else None)
    except RemediateError as exc:
        raise Exit(output.ours(f"lab.ssh: {exc}"), code=1) from None
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@task(
    help={
        "unit": "Run only the fast unit tests (no lab, no root needed).",
        "keyword": "Only tests matching this pytest -k expression.",
        "keep_lab": "Leave the test labs running afterwards (faster reruns; lab.down --name test-ENGINE stops them).",
        "docker": "Engines to test on: 'all' (default: every test on the newest engine and, at the same time, the "
        "tests marked `engines` on each older one), or one engine (20.10, 26.1, newest) to run every test on it.",
    }
)
def test(c, unit=False, keyword=None, keep_lab=False, docker="all"):
    """Run the test suite: unit tests and tests against booted labs of real hosts, on every Docker engine.

    The engines' passes run at once, each on labs of its own: a lab test mostly waits (dockerd restarts, boots,
    swarm), so on two cores the passes overlap instead of queueing. The first pass prints as it goes; each other
    pass's output follows when it ends.
    """
    root = _root(c)
    _checkout_only("test", root / "tests")
    if unit:
        passes = [("", [str(root / "tests/unit")])]
    elif docker == "all":
        passes = [(TEST_ENGINES[0], [str(root / "tests")])]
        passes += [(engine, [str(root / "tests/lab"), "-m", "engines"]) for engine in TEST_ENGINES[1:]]
    else:
        passes = [(docker, [str(root / "tests")])]
    logs = Path(tempfile.mkdtemp(prefix="remediate-test-"))
    running = []
    for n, (engine, args) in enumerate(passes):
        argv = [sys.executable, "-m", "pytest", *args, "--durations=10", *(["-k", keyword] if keyword else [])]
        env = os.environ | ({"REMEDIATE_KEEP_LAB": "1"} if keep_lab else {})
        what = f"{'every test' if len(args) == 1 else 'the tests marked engines'} on Docker {engine}"
        if engine:
            env |= {"REMEDIATE_TEST_DOCKER": engine, "REMEDIATE_TEST_LAB": "test-" + engine.replace(".", "")}
            output.info(f"test: {what}" + (f" (output in {logs / engine}.log until it ends)" if n else ""))
        log = (logs / f"{engine}.log").open("w") if n else None
        running.append((engine, what, log, subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=root)))
    failed = 0
    for engine, what, log, proc in running:
        code = proc.wait()
        if log:
            log.close()
            output.info(f"test: {what}, exit {code}:")
            sys.stdout.write((logs / f"{engine}.log").read_text(errors="replace"))
            sys.stdout.flush()
        # pytest exits 5 when it collected no test: for us that is a failure, never a pass.
        failed = failed or (1 if code == 5 else code)
        if code == 5:
            output.info(f"test: no tests were collected{f' on Docker {engine}' if engine else ''}")
    if failed:
        raise Exit(code=failed)


def collection(root: Path) -> Collection:
    """Every task; relative defaults (inventories/NAME.yml, inventories/lab.yml, reports/lab, tests/) resolve
    against root: the checkout for `invoke` (tasks.py), the current directory for `remediate`."""
    lab = Collection("lab")
    lab.add_task(lab_up, "up")
    lab.add_task(lab_down, "down")
    lab.add_task(lab_status, "status")
    lab.add_task(lab_ssh, "ssh")
    namespace = Collection(lab, test, facts, audit, harden, rollback, unlock, report, demo, bench)
    namespace.configure({"remediate": {"root": str(root)}})
    return namespace


def main() -> None:
    """The `remediate` console script: invoke's Program on the same Collection, as fabric builds `fab`."""
    Program(name="remediate", binary="remediate", version=__version__, namespace=collection(Path.cwd())).run()
