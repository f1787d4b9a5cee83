"""The floor of `invoke bench`: bare paramiko, one connection and ONE batched read per host.

No framing, no parsing, no planning: connect (strict host-key check against the lab's
known_hosts, key auth), run one fixed shell script that reads daemon.json, stats the
Docker files, runs `docker info` and `systemctl cat docker`, read its output, close.
Whatever an agentless tool does on top of this is its own cost.

usage: python bench/floor.py HOSTS.json --forks N
"""

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import yaml

SPEC = yaml.safe_load((Path(__file__).resolve().parent / "hardening.yml").read_text())
# A fixed script of ours; the paths are its positional parameters.
SCRIPT = (
    'cat /etc/docker/daemon.json 2>/dev/null; stat -c "%n %a %U %G %s %F" -- "$@" 2>/dev/null; '
    "docker info --format '{{json .}}'; systemctl cat docker.service"
)


def quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def read_host(entry: dict) -> int:
    client = paramiko.SSHClient()
    client.load_host_keys(entry["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            entry["host"],
            entry["port"],
            username=entry["user"],
            key_filename=entry["key"],
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        command = " ".join(quote(w) for w in ["sh", "-c", SCRIPT, "floor", *SPEC["docker_paths"]])
        _, stdout, _ = client.exec_command(command)
        data = stdout.read()
        if stdout.channel.recv_exit_status() != 0:
            raise RuntimeError(f"{entry['name']}: the read failed")
        return len(data)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", help="JSON list of {name, host, port, user, key, known_hosts}")
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    hosts = json.loads(Path(args.hosts).read_text())
    with ThreadPoolExecutor(max_workers=args.forks) as pool:
        sizes = list(pool.map(read_host, hosts))
    print(f"floor: read {sum(sizes)} bytes from {len(hosts)} hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
