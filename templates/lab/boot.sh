#!/bin/sh
# Runs as PID 1 of a fresh PID/mount/UTS/IPC/net namespace set (unshare) and
# turns it into a lab host: overlay root (entered with pivot_root), real /var/lib/docker, systemd as init.
# Arguments: HOST_DIR BASE_ROOTFS HOSTNAME CGROUP_PATH
set -eu
host_dir=$1 base=$2 name=$3 cgroup=$4
root=$host_dir/root

# Give the host its own cgroup, so its systemd manages a subtree of its own
# instead of sharing the machine's root cgroup with the other hosts (where
# stopping a unit could reach into a neighbour). systemd tracks processes in the
# named "systemd" hierarchy and, on hybrid setups, in "unified": those two must
# work. The controllers are best effort (some kernels refuse mkdir in a few).
for hier in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [ -f "$hier/cgroup.procs" ] || continue
    mkdir -p "$hier/$cgroup"
    echo $$ > "$hier/$cgroup/cgroup.procs"
done
for hier in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpuacct /sys/fs/cgroup/memory /sys/fs/cgroup/pids \
            /sys/fs/cgroup/devices /sys/fs/cgroup/blkio /sys/fs/cgroup/freezer; do
    [ -f "$hier/cgroup.procs" ] || continue
    { mkdir -p "$hier/$cgroup" && echo $$ > "$hier/$cgroup/cgroup.procs"; } 2>/dev/null || true
done

mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$base,upperdir=$host_dir/upper,workdir=$host_dir/work" "$root"
mount --bind "$host_dir/docker" "$root/var/lib/docker"
mount --bind "$host_dir/containerd" "$root/var/lib/containerd"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
hostname "$name"
# No login prompts: a lab host has no terminal of its own, and a getty on the controller's /dev/tty1 (bound in
# with /dev) spins at full CPU on every host, as trixie's systemd starts one.
for unit in getty.target getty@.service autovt@.service serial-getty@.service console-getty.service \
            container-getty@.service; do
    ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done
# systemd only sets up a cgroup tree dockerd can use when it knows it runs in a container.
export container=remediate-lab
# Enter the root with pivot_root, not chroot: the kernel refuses a new user namespace (unshare --user,
# every container under userns-remap) to a process whose root is not its mount namespace's root.
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /lib/systemd/systemd --system
