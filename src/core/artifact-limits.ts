import { FC_BASE_FILE, REVISION_FILE, ROOTFS_NAME, SPEC_FILE } from "./artifacts.js";
import { DATA_DISK_BOUNDS, MEM_BOUNDS } from "./sizes.js";

// The largest size each file of a revision may have: what mvmctl itself could ever have produced for
// it. A registry that claims more (a 28-byte stream announcing petabytes of zeros) is refused before a
// byte is decoded.

const MIB = 1024 * 1024;

/** Metadata documents (revision.json, template.json, fc-base.json, checksums.json) are a few KiB. */
export const MAX_METADATA_BYTES = 1 * MIB;

/** Guest memory: the largest --mem the CLI accepts. */
export const MAX_MEMORY_BYTES = MEM_BOUNDS.max * MIB;

/** A guest disk: the largest disk size the CLI accepts. */
export const MAX_DISK_BYTES = DATA_DISK_BOUNDS.max * MIB;

const METADATA = new Set([REVISION_FILE, SPEC_FILE, FC_BASE_FILE]);

/**
 * Upper bound on the size of revision file `name`: metadata documents are small; the root filesystem
 * and snapshot disks are disks; the kernel, initrd and the snapshot's memory and device state are
 * loaded into guest memory.
 */
export function maxArtifactBytes(name: string): number {
  if (METADATA.has(name)) return MAX_METADATA_BYTES;
  if (name === ROOTFS_NAME || name.startsWith("snapshot/disk.")) return MAX_DISK_BYTES;
  return MAX_MEMORY_BYTES;
}
