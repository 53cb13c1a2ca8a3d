// The closed set of file names a revision directory may hold. Anything that arrives from a registry
// or a checksums.json is checked against this list before it is used as a path.

export const KERNEL_NAMES = ["vmlinux", "kernel"] as const;
export const ROOTFS_NAME = "rootfs.ext4";
export const INITRD_NAME = "initrd";
export const REVISION_FILE = "revision.json";
export const CHECKSUMS_FILE = "checksums.json";
export const SPEC_FILE = "template.json";
export const FC_BASE_FILE = "fc-base.json";
export const SNAPSHOT_DIR = "snapshot";

/** Snapshot files, relative to the revision directory. */
export const SNAPSHOT_FILES = [
  "snapshot/vmstate.bin", // device state (QEMU migration stream / Firecracker vmstate)
  "snapshot/mem.bin", // guest memory, sparse
  "snapshot/disk.qcow2", // QEMU: the VM's disk overlay at the moment of the snapshot
  "snapshot/disk.ext4", // Firecracker: the VM's rootfs copy at the moment of the snapshot
] as const;

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
