# Assembles a mkGuest output: $out/{kernel|vmlinux, initrd, rootfs/}. The rootfs tree holds busybox
# and its applet links, the agent, PID 1, the generated /etc, and the full /nix/store closure of the
# config (which references every package and every store path a command mentions).
set -eu
. "$tools"
r="$out/rootfs"
mkdir -p "$out" "$r"
cp "$kernel" "$out/$kernelName"
[ -z "$initrd" ] || cp "$initrd" "$out/initrd"

for d in bin sbin usr/bin usr/sbin usr/share/mvm etc/ssl/certs dev proc sys run tmp var/log var/lib var/tmp \
  root home mnt/config mnt/secrets mnt/data nix/store; do
  mkdir -p "$r/$d"
done

cp "$busybox" "$r/bin/busybox"
chmod 0755 "$r/bin/busybox"
for p in $(busybox --list-full | sort); do
  case "$p" in
    */*) ;;
    *) continue ;;
  esac
  [ "$p" = bin/busybox ] && continue
  [ -e "$r/$p" ] || [ -L "$r/$p" ] && continue
  case "$p" in
    bin/*) ln -s busybox "$r/$p" ;;
    sbin/*) ln -s ../bin/busybox "$r/$p" ;;
    usr/*/*) ln -s ../../bin/busybox "$r/$p" ;;
  esac
done
rm -f "$r/sbin/init"
ln -s /init "$r/sbin/init"
if [ -n "${bash:-}" ]; then
  cp "$bash" "$r/bin/bash"
  chmod 0755 "$r/bin/bash"
fi
cp "$agent" "$r/usr/bin/mvm-agent"
chmod 0755 "$r/usr/bin/mvm-agent"
cp "$initScript" "$r/init"
chmod 0755 "$r/init"
cp "$udhcpcScript" "$r/usr/share/mvm/udhcpc.sh"
chmod 0755 "$r/usr/share/mvm/udhcpc.sh"

# /etc: generated files live in the config store path; runtime state lives in /run/mvm.
ln -s "$config" "$r/etc/mvm"
for f in passwd group hosts nsswitch.conf profile; do ln -s "mvm/$f" "$r/etc/$f"; done
ln -s /run/mvm/resolv.conf "$r/etc/resolv.conf"
ln -s /run/mvm/hostname "$r/etc/hostname"
ln -s /run/mvm/machine-id "$r/etc/machine-id"
if [ -n "$cacert" ]; then
  for f in etc/ssl/certs/ca-bundle.crt etc/ssl/certs/ca-certificates.crt; do ln -s "$cacert" "$r/$f"; done
fi

# exportReferencesGraph format: path, deriver, count, then count references; repeated.
while read -r path; do
  read -r _deriver
  read -r count
  i=0
  while [ "$i" -lt "$count" ]; do
    read -r _ref
    i=$((i + 1))
  done
  echo "$path"
done <closure | sort -u >closure.paths
while read -r path; do
  cp -a "$path" "$r/nix/store/"
done <closure.paths
