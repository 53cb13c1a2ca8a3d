import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// Tiny template flakes for the build tests: no inputs, a static busybox as the only builder (imported
// with builtins.path, so nix builds them offline in well under a second), packages that follow — or
// deliberately break — the output contract. A nonce makes every test run build fresh store paths.

export interface FakePackage {
  /** Kernel file name; "none" leaves it out. */
  kernel?: "kernel" | "vmlinux" | "none";
  initrd?: boolean;
  /** rootfs.ext4 image (default), a file named `rootfs`, a `rootfs/` tree, or none. */
  rootfs?: "image" | "rootfs-file" | "tree" | "none";
  /** Size of the (mostly zero) rootfs image in KiB. */
  rootfsKiB?: number;
  /** Exit status of the builder after printing to stdout and stderr. */
  fail?: number;
  /** Seconds the builder sleeps before writing its output. */
  sleep?: number;
  /** A fixed-output derivation (by name in `fods`) whose output becomes the initrd. */
  fod?: string;
  /** Extra text in the output, so two packages differ. */
  salt?: string;
  /** Symlinks made in the output after everything else (entry name → target), replacing any entry. */
  links?: Record<string, string>;
  /** The whole output is a symlink to this path instead of a directory. */
  outLink?: string;
}

export interface FakeFod {
  content: string;
  /** The hash written in flake.nix (empty, stale or right). */
  hash: string;
  /** The derivation's builder fails instead of producing its content. */
  fail?: boolean;
}

const BUILDER = `
set -e
if [ -n "$sleep" ]; then sleep "$sleep"; fi
if [ -n "$fail" ]; then echo "building $name, about to fail"; echo "oops: deliberate failure" >&2; exit "$fail"; fi
if [ -n "$outLink" ]; then ln -s "$outLink" "$out"; exit 0; fi
mkdir -p "$out"
if [ "$kernel" != none ]; then echo "kernel $nonce $salt" > "$out/$kernel"; fi
if [ -n "$initrd" ]; then echo "initrd $nonce" > "$out/initrd"; fi
if [ -n "$fodOut" ]; then cp "$fodOut" "$out/initrd"; fi
case "$rootfs" in
  image) dd if=/dev/zero of="$out/rootfs.ext4" bs=1024 count="$rootfsKiB" 2>/dev/null; echo "rootfs $nonce $salt" | dd of="$out/rootfs.ext4" conv=notrunc 2>/dev/null ;;
  rootfs-file) dd if=/dev/zero of="$out/rootfs" bs=1024 count="$rootfsKiB" 2>/dev/null ;;
  tree) mkdir -p "$out/rootfs/etc" "$out/rootfs/bin"; echo "$nonce" > "$out/rootfs/etc/hostname"; printf '#!/bin/sh\\necho hi\\n' > "$out/rootfs/init"; chmod 755 "$out/rootfs/init" ;;
esac
if [ -n "$links" ]; then
  printf '%s\\n' "$links" | while IFS='=' read -r entry target; do
    [ -n "$entry" ] || continue
    rm -rf "$out/$entry"; mkdir -p "$(dirname "$out/$entry")"; ln -s "$target" "$out/$entry"
  done
fi
`;

const FOD_BUILDER = `printf '%s' "$content" > "$out"`;

function nixString(s: string): string {
  return JSON.stringify(s).replace(/\$\{/g, "\\${");
}

export function writeFakeFlake(
  dir: string,
  opts: {
    nonce: string;
    system?: string;
    packages: Record<string, FakePackage>;
    fods?: Record<string, FakeFod>;
  },
): string {
  mkdirSync(join(dir, "bb", "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bb", "bin", "busybox"));
  writeFileSync(join(dir, "builder.sh"), BUILDER);
  const system = opts.system ?? "x86_64-linux";
  const fods = Object.entries(opts.fods ?? {})
    .map(
      ([n, f]) => `    fod-${n} = derivation {
      name = ${nixString(`fod-${n}`)};
      inherit system;
      builder = "\${bb}/bin/busybox";
      args = [ "sh" "-c" ${nixString(f.fail ? "echo cannot fetch >&2; exit 7" : FOD_BUILDER)} ];
      content = ${nixString(f.content)};
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = ${nixString(f.hash)};
    };`,
    )
    .join("\n");
  const pkgs = Object.entries(opts.packages)
    .map(([n, p]) => {
      const env: Record<string, string> = {
        nonce: opts.nonce,
        kernel: p.kernel ?? "kernel",
        initrd: p.initrd ? "1" : "",
        rootfs: p.rootfs ?? "image",
        rootfsKiB: String(p.rootfsKiB ?? 1024),
        fail: p.fail === undefined ? "" : String(p.fail),
        sleep: p.sleep === undefined ? "" : String(p.sleep),
        salt: p.salt ?? "",
      };
      // Only set when used, so the other packages' derivations stay as they were.
      if (p.links)
        env.links = Object.entries(p.links)
          .map(([entry, target]) => `${entry}=${target}`)
          .join("\n");
      if (p.outLink) env.outLink = p.outLink;
      const attrs = Object.entries(env)
        .map(([k, v]) => `      ${k} = ${nixString(v)};`)
        .join("\n");
      const fod = p.fod ? `\n      fodOut = fod-${p.fod};` : "";
      return `      ${JSON.stringify(n)} = derivation {
        name = ${nixString(`guest-${n}`)};
        inherit system;
        builder = "\${bb}/bin/busybox";
        args = [ "sh" ./builder.sh ];
${attrs}${fod}
      };`;
    })
    .join("\n");
  writeFileSync(
    join(dir, "flake.nix"),
    `{
  description = "mvmctl build test flake";
  outputs = { self }: let
    system = ${nixString(system)};
    bb = builtins.path { path = ./bb; name = "bb"; };
${fods}
  in {
    packages.\${system} = {
${pkgs}
    };
  };
}
`,
  );
  return dir;
}
