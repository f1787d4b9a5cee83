"""dockerd's command line parsed like pflag/cobra, mapped to daemon.json keys; what dockerd refuses in it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.dockerd.flags import parse_flags
from remediate.dockerd.options import OPTIONS, options_for
from remediate.dockerd.problems import Source
from remediate.dockerd.systemd import Arg
from remediate.dockerd.versions import KeyTable

SRC = Source("/lib/systemd/system/docker.service", via="ExecStart")
V20 = options_for(KeyTable.load().column_for((20, 10, 24)), (20, 10, 24))


def parse(*argv, options=V20):
    return parse_flags([Arg(a, SRC) for a in argv], options)


def unknown(line):
    """The arguments refused as flags this release does not have."""
    return [p.arg for p in line.problems if p.fatal and "not a flag of this dockerd release" in p.message]


@pytest.mark.parametrize(
    "argv, key",
    [
        (["-H", "fd://"], "hosts"),
        (["--host=fd://"], "hosts"),
        (["-Hfd://"], "hosts"),
        (["-H=fd://"], "hosts"),
        (["--insecure-registry", "r:5000"], "insecure-registries"),
        (["--registry-mirror=https://m"], "registry-mirrors"),
        (["--label", "a=b"], "labels"),
        (["--log-opt", "max-size=1m"], "log-opts"),
        (["--storage-opt", "x=y"], "storage-opts"),
        (["--exec-opt", "native.cgroupdriver=systemd"], "exec-opts"),
        (["--default-ulimit", "nofile=1:2"], "default-ulimits"),
        (["--authorization-plugin", "p"], "authorization-plugins"),
        (["--dns-opt", "x"], "dns-opts"),
        (["--dns-search", "x"], "dns-search"),
        (["--default-address-pool", "base=10.0.0.0/8,size=24"], "default-address-pools"),
        (["--node-generic-resource", "gpu=1"], "node-generic-resources"),
        (["--allow-nondistributable-artifacts", "r"], "allow-nondistributable-artifacts"),
        (["-D"], "debug"),
        (["-l", "debug"], "log-level"),
        (["-G", "docker"], "group"),
        (["-p", "/run/d.pid"], "pidfile"),
        (["-g", "/srv/docker"], "graph"),
        (["-b", "br0"], "bridge"),
        (["-s", "overlay2"], "storage-driver"),
        (["--live-restore"], "live-restore"),
        (["--tlsverify"], "tlsverify"),
        (["--config-file", "/x.json"], "config-file"),
    ],
)
def test_flags_map_to_their_daemon_json_key(argv, key):
    line = parse(*argv)
    assert line.problems == ()
    assert line.keys() == [key]


def test_cdi_spec_dir_exists_from_25():
    assert unknown(parse("--cdi-spec-dir", "/etc/cdi")) == ["--cdi-spec-dir"]
    v25 = options_for(KeyTable.load().column_for((25, 0, 0)), (25, 0, 0))
    assert parse("--cdi-spec-dir", "/etc/cdi", options=v25).keys() == ["cdi-spec-dirs"]


def test_values_as_json_would_hold_them():
    line = parse(
        "-H",
        "fd://",
        "--host=tcp://0.0.0.0:2376",
        "--icc=false",
        "--log-opt",
        "max-size=10m",
        "--log-opt=max-file=3",
        "--default-ulimit",
        "nofile=1024:2048",
        "--mtu",
        "1400",
        "-D",
        "--registry-mirror",
        "https://mirror.example",
    )
    assert line.value("hosts") == ["fd://", "tcp://0.0.0.0:2376"]
    assert line.value("icc") is False
    assert line.value("log-opts") == {"max-size": "10m", "max-file": "3"}
    assert line.value("default-ulimits") == {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}
    assert line.value("mtu") == 1400
    assert line.value("debug") is True
    assert line.value("registry-mirrors") == ["https://mirror.example/"]


def test_bool_flag_with_space_leaves_a_stray_argument():
    line = parse("--icc", "false")
    assert line.value("icc") is True
    [problem] = line.problems
    assert problem.fatal and problem.arg == "false" and "stray argument 'false'" in problem.message
    assert "--icc=false" in problem.message


def test_glued_shorthands():
    line = parse("-DH", "fd://")
    assert line.keys() == ["debug", "hosts"] and line.problems == ()


@pytest.mark.parametrize(
    "argv, arg, says",
    [
        (["--nope"], "--nope", "--nope is not a flag of this dockerd release"),
        (["-e", "native"], "-e", "-e is not a flag of this dockerd release"),
        (["--log-level"], "--log-level", "--log-level needs a value"),
        (["-H"], "-H", "-H needs a value"),
        (["--icc=maybe"], "--icc=maybe", "not true or false"),
        (["-D=yes"], "-D=yes", "not true or false"),
        (["--mtu", "big"], "big", "not an integer"),
        (["-H", "bogus://x"], "bogus://x", "Invalid bind address format: bogus://x"),
        (["---x"], "---x", "is not a flag"),
        (["--", "-D"], "-D", "stray argument"),
        ([""], "", "stray argument"),
    ],
)
def test_what_dockerd_refuses_on_its_command_line(argv, arg, says):
    [problem] = parse(*argv).problems
    assert problem.fatal and problem.arg == arg and says in problem.message


def test_flags_removed_in_later_releases():
    v24 = options_for(KeyTable.load().column_for((24, 0, 9)), (24, 0, 9))
    assert unknown(parse("--graph", "/srv", options=v24)) == ["--graph"]
    assert unknown(parse("--http-proxy", "http://p")) == ["--http-proxy"]
    assert parse("--http-proxy", "http://p", options=v24).keys() == ["http-proxy"]


def test_every_option_is_well_formed():
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    assert len({o.short for o in OPTIONS if o.short}) == len([o for o in OPTIONS if o.short])


arg_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(arg_text, st.sampled_from(["-H", "--icc", "-D", "--log-opt", "--", "-", "--label=a"])), max_size=8
    )
)
def test_never_crashes(argv):
    line = parse(*argv)
    for flag in line.flags:
        line.value(flag.option.key)
