import { resolve } from "node:path";
import { nixLibraryDir } from "../kit/library.js";
import type { DataPaths } from "../store/paths.js";
import type { PackRootfs } from "./revision-files.js";

// What the build takes from the guest-image side: packing a rootfs/ tree into a deterministic ext4,
// creating the offline guest kit, and where mvmctl's own Nix library (mkGuest) lives. Injected so that
// callers can substitute their own. The kit and packer modules are imported on first use: a no-op
// build needs neither, and every module loaded is start-up time.

export interface BuildDeps {
  packRootfs: PackRootfs;
  /** The guest kit's directory (`<data>/kit/<hash>`): the current one when complete, else a new one. */
  ensureKit: (paths: DataPaths, onProgress: (message: string) => void) => Promise<string>;
  /** The Nix library builds give flakes as their `mvm` input: MVM_NIX_LIB, else the `nix/` shipped with mvmctl. */
  nixLibraryDir: () => string;
}

export const defaultDeps: BuildDeps = {
  packRootfs: async (treeDir, outFile) => {
    const { packRootfs } = await import("./rootfs-pack.js");
    await packRootfs(treeDir, outFile);
  },
  // A complete kit is used as it is: fingerprinting the host's packages again on every build would cost
  // more than the no-op build itself. `mvmctl kit build` refreshes it after a host upgrade.
  ensureKit: async (paths, onProgress) => {
    const { currentKit, ensureKit } = await import("../kit/index.js");
    return (await currentKit(paths))?.dir ?? (await ensureKit(paths, { onProgress })).dir;
  },
  nixLibraryDir: () => {
    const dir = process.env.MVM_NIX_LIB?.trim();
    return dir ? resolve(dir) : nixLibraryDir();
  },
};
