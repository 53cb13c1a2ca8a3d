#!/usr/bin/env bash
# Installs the Debian packages mvmctl and its tests use, only those that are missing.
# Used by the quick start and by CI (.ci/run). Needs root (or sudo) for apt-get.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(
  git ca-certificates
  nix-bin                    # template builds (real nix, offline)
  qemu-system-x86 qemu-utils # the QEMU backend (KVM when usable, TCG otherwise)
  linux-image-cloud-amd64    # the offline guest kit's kernel
  busybox-static             # the offline guest kit's userland
  bash-static                # /bin/bash in offline guests (E2B's SDK runs commands with bash -l -c)
  e2fsprogs                  # rootfs packing (mke2fs -d)
  cpio util-linux            # initramfs; setpriv, fallocate
  gcc libc6-dev              # the guest agent is compiled statically for the kit
  iproute2                   # the Firecracker backend's TAP devices (ip tuntap / ip link)
)
if [ "${1:-}" = "--with-test-services" ]; then
  APT_PACKAGES+=(
    docker-registry          # real OCI registry for registry tests
    apache2-utils            # htpasswd for the registry's auth
    awscli                   # S3 baseline for the registry benchmark
    openssl                  # certificate of the token service in the OCI bearer-token test
    zsh fish                 # the completion tests run the generated zsh and fish scripts
  )
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
