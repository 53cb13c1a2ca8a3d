# mkGuest: packages + services + health checks + users -> { kernel|vmlinux, initrd, rootfs/ }.
# One implementation for both toolchains (offline kit or nixpkgs); see ../README.md for the API.
{ system, guestSrc }:
{ name
, kit ? null
, pkgs ? null
, packages ? [ ]
, services ? { }
, healthChecks ? { }
, users ? { }
, hostname ? null
, serviceGroup ? "mvm"
  # "default": bzImage as `kernel` (x86_64). "vmlinux": the uncompressed ELF as `vmlinux`, which
  # Firecracker needs and QEMU also boots (PVH).
, kernelFormat ? "default"
}:
let
  inherit (builtins) attrNames concatStringsSep concatLists elem filter foldl' genList hasAttr
    isAttrs isInt isString length listToAttrs map match toString;

  fail = msg: throw "mkGuest ${name}: ${msg}";

  # The default hostname is the name made DNS-safe (template names may hold `_`).
  hostFromName =
    let
      dashed = builtins.replaceStrings [ "_" "." ] [ "-" "-" ] name;
      trimmed = match "-*([A-Za-z0-9]|[A-Za-z0-9].*[A-Za-z0-9])-*" dashed;
    in
    if trimmed == null then "mvm" else builtins.substring 0 63 (builtins.head trimmed);
  theHostname = if hostname == null then hostFromName else hostname;
  check = cond: msg: value: if cond then value else fail msg;

  tc =
    if (kit == null) == (pkgs == null) then fail "pass exactly one of `kit` (offline guest kit) or `pkgs` (nixpkgs)"
    else if kit != null then import ./toolchain-kit.nix { inherit system kit; }
    else import ./toolchain-pkgs.nix { inherit system pkgs guestSrc; };

  # Names become file names under /etc/mvm and user names in /etc/passwd.
  validName = s: isString s && match "[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}" s != null;
  validUser = s: isString s && match "[a-z_][a-z0-9_-]{0,31}" s != null;
  validEnv = s: match "[A-Za-z_][A-Za-z0-9_]*" s != null;
  validHost = s: isString s && match "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?" s != null;
  str = what: v:
    if isString v then v
    else if builtins.isPath v then "${v}"
    else if isInt v || builtins.isBool v then toString v
    else if isAttrs v && v ? outPath then "${v}"
    else fail "${what} must be a string";
  posInt = what: v: dflt:
    let x = if v == null then dflt else v; in
    check (isInt x && x >= 0) "${what} must be a non-negative integer" x;

  # ---- users: root, the service user (uid/gid 900), declared users, and any user a service names.
  serviceUserNames = map (n: services.${n}.user or serviceGroup) (attrNames services);
  implicitUsers = filter (u: u != "root" && u != serviceGroup && !(hasAttr u users)) serviceUserNames;
  allUsers = users // listToAttrs (map (u: { name = u; value = { }; }) implicitUsers);
  userNames = attrNames allUsers;
  userList = genList
    (i:
      let
        n = builtins.elemAt userNames i;
        u = allUsers.${n};
        uid = posInt "users.${n}.uid" (u.uid or null) (1000 + i);
      in
      check (validUser n) "user name `${n}` is not valid" (
        check (uid != 0 && uid != 900) "users.${n}.uid ${toString uid} is reserved (0 is root, 900 the service user)" {
          inherit n uid;
          group = u.group or n;
          home = u.home or "/home/${n}";
        }))
    (length userNames);
  groupNames = builtins.sort builtins.lessThan (foldl' (acc: g: if elem g acc then acc else acc ++ [ g ]) [ ]
    (filter (g: g != serviceGroup && g != "root") (map (u: u.group) userList)));
  gidOf = g:
    if g == serviceGroup then 900
    else if g == "root" then 0
    else
      let owner = filter (u: u.n == g) userList; in
      if owner != [ ] then (builtins.head owner).uid
      else 2000 + (foldl' (acc: x: if acc.found then acc else if x == g then acc // { found = true; } else acc // { i = acc.i + 1; }) { i = 0; found = false; } groupNames).i;
  passwd = concatStringsSep "" ([
    "root:x:0:0:root:/root:/bin/sh\n"
    "${serviceGroup}:x:900:900:mvm service user:/home/${serviceGroup}:/bin/sh\n"
  ] ++ map (u: "${u.n}:x:${toString u.uid}:${toString (gidOf u.group)}::${u.home}:/bin/sh\n") userList ++ [
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
  ]);
  group = concatStringsSep "" ([
    "root:x:0:\n"
    "${serviceGroup}:x:900:${concatStringsSep "," (map (u: u.n) userList)}\n"
  ] ++ map (g: "${g}:x:${toString (gidOf g)}:\n") groupNames ++ [ "nogroup:x:65534:\n" ]);

  # ---- files under /etc/mvm, written verbatim (see ../guest/build/write-files.sh).
  serviceFiles = concatLists (map
    (n:
      let
        s = services.${n};
        env = s.env or { };
        user = s.user or serviceGroup;
      in
      check (validName n) "service name `${n}` is not valid (letters, digits, - _ .)" (
        check (isAttrs s && s ? command) "services.${n}.command is required" (
          [
            { path = "services/${n}/command"; text = str "services.${n}.command" s.command; }
            { path = "services/${n}/user"; text = "${user}\n"; }
          ]
          ++ (if (s.preStart or null) != null then [{ path = "services/${n}/preStart"; text = str "services.${n}.preStart" s.preStart; }] else [ ])
          ++ (if (s.logFile or null) != null then [{ path = "services/${n}/logFile"; text = "${str "services.${n}.logFile" s.logFile}\n"; }] else [ ])
          ++ map (k: check (validEnv k) "services.${n}.env: `${k}` is not a valid variable name"
            { path = "services/${n}/env/${k}"; text = str "services.${n}.env.${k}" env.${k}; })
            (attrNames env))))
    (attrNames services));
  checkFiles = concatLists (map
    (n:
      let c = healthChecks.${n}; in
      check (validName n) "health check name `${n}` is not valid" (
        check (isAttrs c && c ? healthCmd) "healthChecks.${n}.healthCmd is required" [
          { path = "checks/${n}/cmd"; text = str "healthChecks.${n}.healthCmd" c.healthCmd; }
          { path = "checks/${n}/interval"; text = "${toString (posInt "healthIntervalSecs" (c.healthIntervalSecs or null) 30)}\n"; }
          { path = "checks/${n}/timeout"; text = "${toString (posInt "healthTimeoutSecs" (c.healthTimeoutSecs or null) 10)}\n"; }
          { path = "checks/${n}/grace"; text = "${toString (posInt "startupGraceSecs" (c.startupGraceSecs or null) 0)}\n"; }
        ]))
    (attrNames healthChecks));
  pathVar = concatStringsSep ":" ([ "/bin" "/sbin" "/usr/bin" "/usr/sbin" ] ++ map (p: "${p}/bin") packages);
  files = [
    { path = "hostname"; text = "${check (validHost theHostname) "hostname `${toString theHostname}` is not a valid host name" theHostname}\n"; }
    { path = "passwd"; text = passwd; }
    { path = "group"; text = group; }
    { path = "hosts"; text = "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 ${theHostname}\n"; }
    { path = "nsswitch.conf"; text = "passwd: files\ngroup: files\nhosts: files dns\n"; }
    { path = "profile"; text = "export PATH=${pathVar}\n"; }
    { path = "path"; text = "${pathVar}\n"; }
    { path = "services/.keep"; text = ""; }
    { path = "checks/.keep"; text = ""; }
  ] ++ serviceFiles ++ checkFiles;
  indexed = genList (i: { i = toString i; f = builtins.elemAt files i; }) (length files);

  config = derivation ({
    name = "mvm-${name}-config";
    inherit system;
    builder = tc.busybox;
    args = [ "sh" "-e" (guestSrc + "/build/write-files.sh") ];
    busybox = tc.busybox;
    tools = guestSrc + "/build/tools.sh";
    manifest = concatStringsSep "" (map (x: "${x.i} ${x.f.path}\n") indexed);
    passAsFile = [ "manifest" ] ++ map (x: "f${x.i}") indexed;
  } // listToAttrs (map (x: { name = "f${x.i}"; value = x.f.text; }) indexed));
in
check (validName name) "name `${toString name}` is not valid" (
  derivation {
    name = "mvm-${name}";
    inherit system config;
    builder = tc.busybox;
    args = [ "sh" "-e" (guestSrc + "/build/image.sh") ];
    inherit (tc) busybox initrd agent cacert;
    # /bin/bash when the toolchain has one (E2B's SDK runs commands with `/bin/bash -l -c`).
    bash = if tc.bash == null then "" else tc.bash;
    kernel =
      if kernelFormat == "default" then tc.kernel
      else if kernelFormat != "vmlinux" then fail "kernelFormat must be \"default\" or \"vmlinux\""
      else if tc.vmlinux == null then fail "this guest kit has no vmlinux; rebuild it with `mvmctl kit build`"
      else tc.vmlinux;
    kernelName = if kernelFormat == "vmlinux" then "vmlinux" else tc.kernelName;
    tools = guestSrc + "/build/tools.sh";
    initScript = guestSrc + "/init/init.sh";
    udhcpcScript = guestSrc + "/init/udhcpc.sh";
    # The config mentions every package (PATH) and every store path used in a command, so its
    # closure is exactly what the guest needs in /nix/store.
    exportReferencesGraph = [ "closure" config ];
  })
