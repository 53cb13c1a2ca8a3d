{
  description = "mvmctl: turn a Nix flake into a microVM template: build, snapshot, run, push, pull, verify";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAll (pkgs: {
        default = pkgs.callPackage ./package.nix { };
      });
      apps = forAll (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.system}.default}/bin/mvmctl";
        };
      });
      # The guest library scaffolded flakes use (`mvm.lib.mkGuest`), the same as ./nix.
      lib = ((import ./nix/flake.nix).outputs { self = { }; }).lib;
    };
}
