#!/bin/busybox sh
# mvm initramfs. The Debian cloud kernel builds virtio as modules, so before the root disk exists
# they must be loaded, in dependency order (lib/modules/load-order, written by the kit builder).
# Then mount the root disk (root= on the kernel command line, default /dev/vda) and hand over to
# its init (init=, default /init). Any failure is reported on the console and powers the VM off,
# so the host sees an error instead of a hang.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
  echo "mvm initrd: $*" >/dev/console
  sleep 1
  poweroff -f
}

if [ -f /lib/modules/load-order ]; then
  while read -r m; do
    [ -n "$m" ] || continue
    # A module built into the kernel (or already loaded) is not an error.
    insmod "/lib/modules/$m.ko" 2>/dev/null || grep -q "^${m} " /proc/modules || true
  done </lib/modules/load-order
fi

root=/dev/vda
init=/init
mode=rw
clock=""
set -f
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=/dev/*) root="${arg#root=}" ;;
    init=/*) init="${arg#init=}" ;;
    ro) mode=ro ;;
    mvm.clock=*) clock="${arg#mvm.clock=}" ;;
  esac
done
set +f

# The host's wall clock when it started the VM (mvm.clock=SECONDS) plus the time since the kernel
# started: without an RTC the guest would begin in 1970. Only ever forwards, so a guest with a clock
# source of its own (kvm-clock) keeps it.
case "$clock" in
  "" | *[!0-9]* | ?????????????*) ;;
  *)
    up=$(cut -d. -f1 /proc/uptime)
    want=$((clock + ${up:-0}))
    [ "$(date +%s)" -lt "$want" ] && date -s "@$want" >/dev/null
    ;;
esac

i=0
while [ ! -b "$root" ]; do
  i=$((i + 1))
  [ "$i" -gt 1000 ] && fail "root disk $root did not appear (is a virtio-blk device attached, and ACPI on?)"
  usleep 10000
done
mount -t ext4 -o "$mode" "$root" /newroot || fail "cannot mount $root"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fail "$root has no $init"
mkdir -p /newroot/dev /newroot/proc /newroot/sys
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$init"
