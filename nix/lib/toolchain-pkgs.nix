# The nixpkgs toolchain: the same pieces the kit provides, built from nixpkgs, so mkGuest has a
# single implementation. The kernel is nixpkgs' 6.1 LTS with its own config for each architecture
# (x86_64 boots bzImage; aarch64 boots Image, named vmlinux as the original did).
{ system, pkgs, guestSrc }:
let
  busybox = pkgs.pkgsStatic.busybox;
  kernel = pkgs.linuxPackages_6_1.kernel;
  isX86 = system == "x86_64-linux";
  agent = pkgs.pkgsStatic.stdenv.mkDerivation {
    pname = "mvm-agent";
    version = "0.1.0";
    src = guestSrc + "/agent";
    # linux/vm_sockets.h and linux/random.h (musl's libc does not ship kernel headers).
    buildInputs = [ pkgs.pkgsStatic.linuxHeaders ];
    # The same compiler flags as the kit (warnings and hardening), one per line in agent/cflags.
    buildPhase = "$CC -static ${builtins.replaceStrings [ "\n" ] [ " " ] (builtins.readFile (guestSrc + "/agent/cflags"))} -o mvm-agent *.c";
    installPhase = "install -Dm755 mvm-agent $out/bin/mvm-agent";
  };
  # Same load order as the kit; modules built into this kernel are simply absent and skipped.
  moduleNames = [
    "virtio_ring" "virtio" "virtio_pci_modern_dev" "virtio_pci_legacy_dev" "virtio_pci" "virtio_mmio"
    "virtio_blk" "virtio_console" "failover" "net_failover" "virtio_net" "vsock"
    "vmw_vsock_virtio_transport_common" "vmw_vsock_virtio_transport" "virtio_rng"
  ];
  modules = pkgs.runCommand "mvm-guest-modules" { nativeBuildInputs = [ pkgs.xz ]; } ''
    mkdir -p $out
    : > $out/load-order
    for m in ${builtins.concatStringsSep " " moduleNames}; do
      f=$(find ${kernel}/lib/modules -name "$m.ko*" | head -n1)
      [ -n "$f" ] || continue
      case "$f" in
        *.xz) xz -dc "$f" > $out/$m.ko ;;
        *) cp "$f" $out/$m.ko ;;
      esac
      echo "$m" >> $out/load-order
    done
  '';
  initrd = pkgs.makeInitrd {
    compressor = "gzip";
    contents = [
      { object = guestSrc + "/init/initrd-init.sh"; symlink = "/init"; }
      { object = "${busybox}/bin/busybox"; symlink = "/bin/busybox"; }
      { object = modules; symlink = "/lib/modules"; }
    ];
  };
in
{
  busybox = "${busybox}/bin/busybox";
  kernel = if isX86 then "${kernel}/bzImage" else "${kernel}/Image";
  kernelName = if isX86 then "kernel" else "vmlinux";
  vmlinux = if isX86 then "${kernel.dev}/vmlinux" else "${kernel}/Image";
  initrd = "${initrd}/initrd";
  agent = "${agent}/bin/mvm-agent";
  bash = "${pkgs.pkgsStatic.bash}/bin/bash";
  cacert = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
  extraPath = [ ];
}
