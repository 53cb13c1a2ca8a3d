import { snapshotLayout } from "../../core/snapshot.js";

/** A QEMU snapshot: device state, the shared memory file, and the VM's qcow2 disk overlay. */
export const QEMU_SNAPSHOT = snapshotLayout("disk.qcow2");
