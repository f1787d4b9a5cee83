"""The pyinfra contestant's inventory: the hosts `invoke bench` wrote to $REMEDIATE_BENCH_HOSTS (JSON)."""

import json
import os

with open(os.environ["REMEDIATE_BENCH_HOSTS"]) as _file:
    _hosts = json.load(_file)

bench = [
    (
        h["name"],
        {
            "ssh_hostname": h["host"],
            "ssh_port": h["port"],
            "ssh_user": h["user"],
            "ssh_key": h["key"],
            "ssh_known_hosts_file": h["known_hosts"],
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        },
    )
    for h in _hosts
]
