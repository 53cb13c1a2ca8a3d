{
  description = "mvm example: a minimal offline guest (busybox, no services)";

  # Offline: `mvmctl build` supplies both inputs (--override-input): mvm with the library installed
  # with it, mvm-kit with this machine's guest kit (<data>/kit/<hash>). They name no host path.
  inputs.mvm.url = "github:mvmctl/mvmctl?dir=nix";
  inputs.mvm-kit = { url = "github:mvmctl/mvmctl"; flake = false; };

  outputs = { self, mvm, mvm-kit, ... }:
    let system = "x86_64-linux"; in {
      packages.${system}.default = mvm.lib.${system}.mkGuest {
        kit = mvm-kit;
        name = "minimal";
        hostname = "minimal";
      };
    };
}
