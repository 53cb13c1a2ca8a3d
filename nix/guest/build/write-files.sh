# Writes the guest's config files verbatim. Each file's content reached us as its own file
# (Nix passAsFile: attribute f<N> -> $f<N>Path), listed as "<N> <relative path>" lines in the
# manifest; nothing here ever parses a service command or env value.
set -eu
. "$tools"
mkdir -p "$out"
while read -r idx rel; do
  case "$idx" in '' | *[!0-9]*) echo "bad manifest index: $idx" >&2; exit 1 ;; esac
  eval "src=\${f${idx}Path}"
  mkdir -p "$(dirname "$out/$rel")"
  cp "$src" "$out/$rel"
done <"$manifestPath"
