{ systems, perSystem }:
args:
let
  fromPkgs = if args ? pkgs && args.pkgs != null then args.pkgs.stdenv.hostPlatform.system else null;
  fromKit =
    if args ? kit && args.kit != null
    then (builtins.fromJSON (builtins.readFile "${args.kit}/kit.json")).system
    else null;
  system =
    if args ? system then args.system
    else if fromPkgs != null then fromPkgs
    else if fromKit != null then fromKit
    else throw "mkGuest: pass `kit` (the offline guest kit) or `pkgs` (nixpkgs)";
in
if builtins.elem system systems
then perSystem.${system}.mkGuest (builtins.removeAttrs args [ "system" ])
else throw "mkGuest: unsupported system ${system} (supported: ${builtins.concatStringsSep ", " systems})"
