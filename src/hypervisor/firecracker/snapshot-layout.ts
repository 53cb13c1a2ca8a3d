import { snapshotLayout } from "../../core/snapshot.js";

/** A Firecracker snapshot: its vmstate, the full memory file, and a copy of the VM's rootfs. */
export const FC_SNAPSHOT = snapshotLayout("disk.ext4");
