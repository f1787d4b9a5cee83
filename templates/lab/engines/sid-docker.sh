#!/bin/sh
# Engine "newest": runs in the chroot of a fresh trixie image (with /proc), once per image build.
# Debian unstable itself cannot be the image (its systemd has no cgroup v1 support, and the lab's
# machines are cgroup v1), so only the engine comes from unstable: an apt source pinned low, so
# nothing else is taken from it unless the engine needs it.
# Argument: the Debian mirror apt uses on the controller.
set -eu
mirror=$1
echo "deb [check-valid-until=no] $mirror sid main" > /etc/apt/sources.list.d/sid.list
cat > /etc/apt/preferences.d/sid.pref <<PIN
Package: *
Pin: release n=sid
Pin-Priority: 100
PIN
# Nothing may start a service inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
# The mirror's unstable Release file can be past its Valid-Until date: accept it.
apt-get -o Acquire::Check-Valid-Until=false update
apt-get -o Acquire::Check-Valid-Until=false -y -t sid install --no-install-recommends \
    docker.io docker-cli containerd runc
rm -f /usr/sbin/policy-rc.d
