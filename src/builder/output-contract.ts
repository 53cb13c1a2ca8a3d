import { promises as fs } from "node:fs";
import { dirname, join, sep } from "node:path";
import { MvmError } from "../core/errors.js";

// The output contract of a template flake: one store directory holding a kernel (`kernel` or
// `vmlinux`), optionally an `initrd`, and the root filesystem as an ext4 image (`rootfs.ext4`, or a file
// named `rootfs`) or as a `rootfs/` tree that the build packs into ext4. Entries may be symlinks into
// other store paths (mkGuest links its kernel), so they are followed — but only as far as the Nix store:
// a flake is untrusted, and a link to a host file (`kernel -> /etc/shadow`, `rootfs -> ~/.ssh`) would
// otherwise be copied into the template and pushed to a registry. Symlinks *inside* a rootfs tree are
// guest paths: they are packed as links and never followed on the host.

export type KernelName = "kernel" | "vmlinux";

export interface BuildOutput {
  outPath: string;
  kernel: { name: KernelName; path: string };
  initrd: string | undefined;
  rootfs: { kind: "image"; path: string } | { kind: "tree"; path: string };
}

const CONTRACT_HINT =
  "A template flake's package must contain `kernel` or `vmlinux`, optionally `initrd`, and `rootfs.ext4` (or a `rootfs` image, or a `rootfs/` directory tree).";

const CONTAINMENT_HINT =
  "Every file a template flake's package names must be built into the Nix store; links to host files are refused and nothing was installed.";

interface Resolved {
  kind: "file" | "dir" | "other";
  /** Where the entry leads once every symlink is followed (inside the store). */
  path: string;
}

/** Resolves entries of one output path, refusing any that lead outside the Nix store. */
class StoreResolver {
  private constructor(
    private readonly storeDir: string,
    private readonly realStore: string,
  ) {}

  static async open(storeDir: string): Promise<StoreResolver> {
    const realStore = await fs.realpath(storeDir).catch(() => {
      throw new MvmError("external", `the Nix store ${storeDir} cannot be read`);
    });
    return new StoreResolver(storeDir, realStore);
  }

  private inside(path: string): boolean {
    return path.startsWith(this.realStore.endsWith(sep) ? this.realStore : this.realStore + sep);
  }

  /** The entry at `path` (called `what` in messages); undefined when there is nothing there. */
  async resolve(path: string, what: string): Promise<Resolved | undefined> {
    const link = await fs.lstat(path).catch(() => undefined);
    if (!link) return undefined;
    const real = await fs.realpath(path).catch(() => undefined);
    if (real === undefined) {
      const target = await fs.readlink(path).catch(() => "?");
      throw new MvmError(
        "external",
        `the flake's ${what} is a symlink to ${JSON.stringify(target)}, which does not exist`,
        { hint: CONTAINMENT_HINT },
      );
    }
    if (!this.inside(real))
      throw new MvmError(
        "external",
        `the flake's ${what} points outside the Nix store (${this.storeDir}), to ${JSON.stringify(real)}`,
        { hint: CONTAINMENT_HINT },
      );
    const st = await fs.stat(real);
    return { kind: st.isFile() ? "file" : st.isDirectory() ? "dir" : "other", path: real };
  }
}

/**
 * Checks a build output against the contract. `storeDir` is the Nix store the output was built in
 * (by default the directory nix reported the output path in).
 */
export async function inspectOutput(outPath: string, storeDir = dirname(outPath)): Promise<BuildOutput> {
  const store = await StoreResolver.open(storeDir);
  const top = await store.resolve(outPath, `package ${outPath}`);
  if (top?.kind !== "dir")
    throw new MvmError("external", `the flake's package ${outPath} is a single file, not a directory`, {
      hint: CONTRACT_HINT,
    });
  const root = top.path;
  const entry = (name: string) => store.resolve(join(root, name), `output \`${name}\``);
  const listing = async () => (await fs.readdir(root)).sort().join(", ") || "nothing";
  // `kernel` wins over `vmlinux` when a package has both, as in the original.
  let kernel: BuildOutput["kernel"] | undefined;
  for (const name of ["kernel", "vmlinux"] as const) {
    const e = await entry(name);
    if (e?.kind === "file") {
      kernel = { name, path: e.path };
      break;
    }
  }
  if (!kernel)
    throw new MvmError("external", `the flake's package has no kernel file (it holds: ${await listing()})`, {
      hint: CONTRACT_HINT,
    });
  let rootfs: BuildOutput["rootfs"] | undefined;
  for (const [name, want, kind] of [
    ["rootfs.ext4", "file", "image"],
    ["rootfs", "file", "image"],
    ["rootfs", "dir", "tree"],
  ] as const) {
    const e = await entry(name);
    if (e?.kind === want) {
      rootfs = { kind, path: e.path };
      break;
    }
  }
  if (!rootfs)
    throw new MvmError(
      "external",
      `the flake's package has no root filesystem (it holds: ${await listing()})`,
      {
        hint: CONTRACT_HINT,
      },
    );
  const initrd = await entry("initrd");
  if (initrd?.kind === "dir")
    throw new MvmError("external", "the flake's package has an `initrd` directory; it must be a file", {
      hint: CONTRACT_HINT,
    });
  return { outPath, kernel, initrd: initrd?.kind === "file" ? initrd.path : undefined, rootfs };
}
