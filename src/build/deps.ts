import type { DataPaths } from "../store/paths.js";
import type { PackRootfs } from "./revision-files.js";

// What the build takes from the guest-image side: packing a rootfs/ tree into a deterministic ext4, and
// creating the offline guest kit. Injected so that tests and callers can substitute their own.

export interface BuildDeps {
  packRootfs: PackRootfs;
  /** Creates the guest kit if missing; returns its directory (`<data>/kit/<hash>`). */
  ensureKit: (paths: DataPaths) => Promise<string>;
}

// The guest-image modules are loaded on first use only: most builds need neither.
const PACK_MODULE = "./rootfs-pack.js";
const KIT_MODULE = "../kit/index.js";

export const defaultDeps: BuildDeps = {
  packRootfs: async (treeDir, outFile) => {
    const m = (await import(PACK_MODULE)) as { packRootfs: (t: string, o: string) => Promise<unknown> };
    await m.packRootfs(treeDir, outFile);
  },
  ensureKit: async (paths) => {
    const m = (await import(KIT_MODULE)) as { ensureKit: (p: DataPaths) => Promise<unknown> };
    const r = await m.ensureKit(paths);
    if (typeof r === "string") return r;
    const dir = (r as { dir?: unknown; path?: unknown }).dir ?? (r as { path?: unknown }).path;
    if (typeof dir !== "string") throw new Error("ensureKit returned no directory");
    return dir;
  },
};
