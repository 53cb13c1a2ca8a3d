# The offline toolchain: everything comes from the guest kit directory (`mvmctl kit build`), which a
# flake takes as the non-flake input `mvm-kit` and `mvmctl build` supplies (--override-input).
{ system, kit }:
let
  dir = "${kit}";
  manifest = builtins.fromJSON (builtins.readFile "${dir}/kit.json");
in
if !(builtins.pathExists "${dir}/kit.json") then
  throw ("mkGuest: `kit` is not an offline guest kit (it has no kit.json). Build with `mvmctl build`, "
    + "which supplies this machine's kit, or pass it yourself: "
    + "nix build --override-input mvm-kit path:<the directory `mvmctl kit build` prints>")
else if manifest.system != system then
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
