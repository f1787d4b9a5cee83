"""The work every contestant of `invoke bench` does, as a pyinfra deploy: run with --dry --diff.

Read daemon.json, stat the Docker files, `docker info`, `systemctl cat docker`, then template
daemon.json (the host's keys merged with the hardening keys) and a docker.service drop-in;
pyinfra's change detection decides what would change and --diff shows it.
"""

import json
from pathlib import Path

import yaml
from pyinfra import host
from pyinfra.facts.files import Directory, File, FileContents, Socket
from pyinfra.facts.server import Command
from pyinfra.operations import files

BENCH = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((BENCH / "hardening.yml").read_text())
KIND_FACTS = (File, Directory, Socket)

lines = host.get_fact(FileContents, path="/etc/docker/daemon.json")
current = json.loads("\n".join(lines)) if lines else {}
stats = {
    path: next((s for s in (host.get_fact(f, path=path) for f in KIND_FACTS) if s), None)
    for path in SPEC["docker_paths"]
}
docker_info = host.get_fact(Command, command="docker info --format '{{json .}}'")
docker_unit = host.get_fact(Command, command="systemctl cat docker.service")

files.template(
    name="Template daemon.json",
    src=str(BENCH / "templates" / "daemon.json.j2"),
    dest="/etc/docker/daemon.json",
    user="root",
    group="root",
    mode="644",
    daemon_json=json.dumps({**current, **SPEC["hardening"]}, indent=2, sort_keys=True),
)
files.template(
    name="Template the docker.service drop-in",
    src=str(BENCH / "templates" / "docker.service.conf.j2"),
    dest="/etc/systemd/system/docker.service.d/zz-remediate.conf",
    user="root",
    group="root",
    mode="644",
    host_label=host.name,
)
