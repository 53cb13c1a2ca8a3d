import { currentKit, ensureKit, nixLibraryDir } from "../kit/index.js";
import type { DataPaths } from "../store/paths.js";
import { packRootfs } from "./rootfs-pack.js";
import type { PackRootfs } from "./revision-files.js";

// What the build takes from the guest-image side: packing a rootfs/ tree into a deterministic ext4,
// creating the offline guest kit, and where mvmctl's own Nix library (mkGuest) lives. Injected so that
// callers can substitute their own.

export interface BuildDeps {
  packRootfs: PackRootfs;
  /** The guest kit's directory (`<data>/kit/<hash>`): the current one when complete, else a new one. */
  ensureKit: (paths: DataPaths, onProgress: (message: string) => void) => Promise<string>;
  /** The `nix/` directory shipped with mvmctl: the `mvm` input of offline flakes. */
  nixLibraryDir: () => string;
}

export const defaultDeps: BuildDeps = {
  packRootfs: async (treeDir, outFile) => {
    await packRootfs(treeDir, outFile);
  },
  // A complete kit is used as it is: fingerprinting the host's packages again on every build would cost
  // more than the no-op build itself. `mvmctl kit build` refreshes it after a host upgrade.
  ensureKit: async (paths, onProgress) =>
    (await currentKit(paths))?.dir ?? (await ensureKit(paths, { onProgress })).dir,
  nixLibraryDir,
};
