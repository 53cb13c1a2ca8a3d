import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";

// The output contract of a template flake (spec §3.3): one store directory holding a kernel (`kernel` or
// `vmlinux`), optionally an `initrd`, and the root filesystem as an ext4 image (`rootfs.ext4`, or a file
// named `rootfs`) or as a `rootfs/` tree that the build packs into ext4. Entries may be symlinks into
// other store paths (mkGuest links its kernel), so they are followed.

export type KernelName = "kernel" | "vmlinux";

export interface BuildOutput {
  outPath: string;
  kernel: { name: KernelName; path: string };
  initrd: string | undefined;
  rootfs: { kind: "image"; path: string } | { kind: "tree"; path: string };
}

async function kindOf(path: string): Promise<"file" | "dir" | undefined> {
  const st = await fs.stat(path).catch(() => undefined);
  if (!st) return undefined;
  if (st.isFile()) return "file";
  return st.isDirectory() ? "dir" : undefined;
}

const CONTRACT_HINT =
  "A template flake's package must contain `kernel` or `vmlinux`, optionally `initrd`, and `rootfs.ext4` (or a `rootfs` image, or a `rootfs/` directory tree).";

export async function inspectOutput(outPath: string): Promise<BuildOutput> {
  if ((await kindOf(outPath)) !== "dir")
    throw new MvmError("external", `the flake's package ${outPath} is a single file, not a directory`, {
      hint: CONTRACT_HINT,
    });
  const listing = async () => (await fs.readdir(outPath)).sort().join(", ") || "nothing";
  // `kernel` wins over `vmlinux` when a package has both, as in the original.
  let kernel: BuildOutput["kernel"] | undefined;
  for (const name of ["kernel", "vmlinux"] as const) {
    if ((await kindOf(join(outPath, name))) === "file") {
      kernel = { name, path: await fs.realpath(join(outPath, name)) };
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
    if ((await kindOf(join(outPath, name))) === want) {
      rootfs = { kind, path: await fs.realpath(join(outPath, name)) };
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
  const initrdKind = await kindOf(join(outPath, "initrd"));
  if (initrdKind === "dir")
    throw new MvmError("external", "the flake's package has an `initrd` directory; it must be a file", {
      hint: CONTRACT_HINT,
    });
  const initrd = initrdKind === "file" ? await fs.realpath(join(outPath, "initrd")) : undefined;
  return { outPath, kernel, initrd, rootfs };
}
