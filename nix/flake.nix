{
  description = "mvm guest library: mkGuest turns packages, services and health checks into a microVM image";

  # No inputs: the library must evaluate offline. Kernel, busybox and agent come from either the
  # offline guest kit (`kit`, built by `mvmctl kit build`) or nixpkgs (`pkgs`), chosen per call.
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      guestSrc = ./guest;
      forSystem = system: {
        mkGuest = import ./lib/mk-guest.nix { inherit system guestSrc; };
      };
      perSystem = builtins.listToAttrs (map (system: { name = system; value = forSystem system; }) systems);
    in
    {
      lib = perSystem // {
        # System-agnostic entry point: `system` if given, else taken from `pkgs` or the kit's manifest.
        mkGuest = import ./lib/mk-guest-any.nix { inherit systems perSystem; };
      };
    };
}
