# mvmctl as a Nix package: the npm package built with buildNpmPackage, its command wrapped so the
# programs it runs (nix, QEMU, e2fsprogs for mke2fs, util-linux for fallocate, git, iproute2 for
# Firecracker taps) are on its PATH. Called from flake.nix with nixpkgs' callPackage.
{
  lib,
  buildNpmPackage,
  makeWrapper,
  nodejs_20,
  nix,
  qemu,
  e2fsprogs,
  util-linux,
  git,
  iproute2,
}:

let
  manifest = builtins.fromJSON (builtins.readFile ./package.json);
  runtimeTools = [ nix qemu e2fsprogs util-linux git iproute2 ];
in
buildNpmPackage {
  pname = manifest.name;
  version = manifest.version;
  src = lib.cleanSource ./.;
  nodejs = nodejs_20;
  # Update with: nix run nixpkgs#prefetch-npm-deps package-lock.json
  npmDepsHash = lib.fakeHash;
  nativeBuildInputs = [ makeWrapper ];
  # `npm run build` is tsc; the prepare script is what npm runs for git installs, not needed here.
  npmBuildScript = "build";
  postInstall = ''
    wrapProgram $out/bin/mvmctl --prefix PATH : ${lib.makeBinPath runtimeTools}
  '';
  meta = {
    description = manifest.description;
    license = lib.licenses.asl20;
    mainProgram = "mvmctl";
    platforms = lib.platforms.linux;
  };
}
