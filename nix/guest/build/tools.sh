# Sourced by the builders: the only tool inside the Nix sandbox is one busybox binary ($busybox),
# so give every applet a name on PATH.
mkdir -p "$NIX_BUILD_TOP/.tools"
for applet in $("$busybox" --list); do
  [ -e "$NIX_BUILD_TOP/.tools/$applet" ] || "$busybox" ln -s "$busybox" "$NIX_BUILD_TOP/.tools/$applet"
done
export PATH="$NIX_BUILD_TOP/.tools"
