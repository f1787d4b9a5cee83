#!/bin/sh
# Runs inside the freshly debootstrapped base image (chroot) once per image build.
# Everything per-host (ssh host keys, authorized keys, passwords, scenario files)
# is added later in each host's own overlay layer, never here.
set -eu
# Host keys must be unique per host: the lab generates them at host creation.
rm -f /etc/ssh/ssh_host_*
# A non-root operator with password-protected sudo, for become tests.
id ops >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo ops
passwd --lock ops >/dev/null
mkdir -p /var/lib/docker /var/lib/containerd /etc/docker
# A tiny local image source: no registry is reachable from the lab.
bb=/opt/remediate-lab/busybox
rm -rf "$bb"
mkdir -p "$bb/bin" "$bb/tmp" "$bb/etc"
cp /bin/busybox "$bb/bin/busybox"
for applet in $("$bb/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bb/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bb/etc/passwd"
echo 'root:x:0:' > "$bb/etc/group"
# Nothing in the lab may try to reach the outside network or wait for it.
systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/apt/lists/*
