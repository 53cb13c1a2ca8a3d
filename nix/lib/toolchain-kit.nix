# The offline toolchain: everything comes from the guest kit directory (`mvmctl kit build`), which a
# flake passes in as a non-flake `path:` input.
{ system, kit }:
let
  dir = "${kit}";
  manifest = builtins.fromJSON (builtins.readFile "${dir}/kit.json");
in
if manifest.system != system then
  throw "mkGuest: the guest kit is for ${manifest.system}, not ${system}"
else {
  # The builder is busybox itself; its path ends in `busybox`, so it acts as the multi-call binary.
  busybox = "${dir}/busybox";
  kernel = "${dir}/${manifest.kernel.file}";
  kernelName = manifest.kernel.file;
  vmlinux = if manifest.kernel ? vmlinux then "${dir}/${manifest.kernel.vmlinux}" else null;
  initrd = "${dir}/initrd";
  agent = "${dir}/mvm-agent";
  # A static bash for /bin/bash, when the kit was built on a host with Debian's bash-static.
  bash = if manifest ? bash then "${dir}/bash" else null;
  cacert = "";
  extraPath = [ ];
}
