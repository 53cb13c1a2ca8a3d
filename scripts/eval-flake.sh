#!/usr/bin/env bash
# Evaluates the repository's flake.nix and package.nix without nixpkgs (which this kind of machine
# cannot fetch): both files are parsed, then evaluated with stand-ins for nixpkgs' functions, and the
# outputs a user relies on are checked (packages.default, apps.default, lib.mkGuest). Building needs
# nixpkgs: `nix build` / `nix run` on a machine with network access.
set -euo pipefail
cd "$(dirname "$0")/.."
nix_flags=(--extra-experimental-features "nix-command flakes")
nix-instantiate --parse flake.nix >/dev/null
nix-instantiate --parse package.nix >/dev/null
nix "${nix_flags[@]}" eval --impure --json --expr '
let
  stub = attrs: attrs;
  lib = {
    cleanSource = p: p;
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: p + "/bin") ps);
    licenses.asl20 = "asl20";
    platforms.linux = [ "x86_64-linux" ];
  };
  pkg = import ./package.nix {
    inherit lib;
    buildNpmPackage = stub;
    makeWrapper = "makeWrapper";
    nodejs_20 = "node";
    nix = "/nix"; qemu = "/qemu"; e2fsprogs = "/e2fs"; util-linux = "/ul"; git = "/git"; iproute2 = "/ip";
  };
  systems = [ "x86_64-linux" "aarch64-linux" ];
  nixpkgs = {
    lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    legacyPackages = builtins.listToAttrs (map (s: {
      name = s;
      value = { system = s; callPackage = path: _: { outPath = "/nix/store/built-" + s; }; };
    }) systems);
  };
  flake = (import ./flake.nix).outputs { self = flake; inherit nixpkgs; };
in {
  pname = pkg.pname;
  version = pkg.version;
  wraps = builtins.match ".*wrapProgram .*/bin/mvmctl --prefix PATH : /nix/bin:/qemu/bin.*" pkg.postInstall != null;
  app = flake.apps.x86_64-linux.default.program;
  package = flake.packages.aarch64-linux.default.outPath;
  mkGuest = builtins.isFunction flake.lib.mkGuest;
}' 2>/dev/null
