// The closed set of file names a revision directory may hold. Anything that arrives from a registry
// or a checksums.json is checked against this list before it is used as a path.

import { SNAPSHOT_DISKS } from "./snapshot.js";

export const KERNEL_NAMES = ["vmlinux", "kernel"] as const;
export const ROOTFS_NAME = "rootfs.ext4";
export const INITRD_NAME = "initrd";
export const REVISION_FILE = "revision.json";
export const CHECKSUMS_FILE = "checksums.json";
export const SPEC_FILE = "template.json";
export const FC_BASE_FILE = "fc-base.json";
export const SNAPSHOT_DIR = "snapshot";

/** Snapshot files of every backend's layout (core/snapshot.ts), relative to the revision directory. */
export const SNAPSHOT_FILES: readonly string[] = [
  `${SNAPSHOT_DIR}/vmstate.bin`,
  `${SNAPSHOT_DIR}/mem.bin`,
  ...SNAPSHOT_DISKS.map((d) => `${SNAPSHOT_DIR}/${d}`),
];

/** Files that are mostly holes: copied and transferred sparse. */
export const SPARSE_FILES: readonly string[] = [
  ROOTFS_NAME,
  `${SNAPSHOT_DIR}/mem.bin`,
  ...SNAPSHOT_DISKS.map((d) => `${SNAPSHOT_DIR}/${d}`),
];

export const ARTIFACT_FILES: readonly string[] = [
  ...KERNEL_NAMES,
  INITRD_NAME,
  ROOTFS_NAME,
  FC_BASE_FILE,
  REVISION_FILE,
  SPEC_FILE,
  ...SNAPSHOT_FILES,
];

export function isKnownArtifact(name: string): boolean {
  return ARTIFACT_FILES.includes(name);
}
