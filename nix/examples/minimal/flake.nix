{
  description = "mvm example: a minimal offline guest (busybox, no services)";

  # Offline: the library and the guest kit are local path inputs. Tests and `mvmctl` pass the real
  # locations with --override-input mvm path:<repo>/nix --override-input mvm-kit path:<data>/kit/<hash>.
  inputs.mvm.url = "path:/usr/local/share/mvmctl/nix";
  inputs.mvm-kit.url = "path:/root/.mvm/kit/current";
  inputs.mvm-kit.flake = false;

  outputs = { self, mvm, mvm-kit, ... }:
    let system = "x86_64-linux"; in {
      packages.${system}.default = mvm.lib.${system}.mkGuest {
        kit = mvm-kit;
        name = "minimal";
        hostname = "minimal";
      };
    };
}
