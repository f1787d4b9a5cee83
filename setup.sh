#!/usr/bin/env bash
# Installs everything remediate and its lab need on a Debian/Ubuntu machine, as root:
# the OS packages (apt), then a virtualenv in .venv with remediate and its test and bench extras.
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (the lab needs namespaces, mounts and apt)" >&2
    exit 1
fi

packages=(python3 python3-venv python3-pip debootstrap debian-archive-keyring socat iproute2
          busybox-static openssh-client util-linux ca-certificates
          chromium fonts-dejavu-core  # chromium: the HTML report tests open reports in headless Chromium
          shellcheck                  # the tests lint every shell text remediate runs (tests/unit/test_shellcheck.py)
          time)                       # GNU time: invoke bench's peak memory of each contestant
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: remediate needs Python >= 3.11; $($python --version) found (set PYTHON=...)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# bench: ansible-core and pyinfra, the tools `invoke bench` (and its test) compares remediate with
.venv/bin/python -m pip install -q -e '.[test,bench]'
echo "setup.sh: ready (.venv/bin/invoke --list)"
