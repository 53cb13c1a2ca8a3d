import { snapshotLayout } from "../../core/snapshot.js";
import type { BackendModule } from "../backend.js";

/** A QEMU snapshot: device state, the shared memory file, and the VM's qcow2 disk overlay. */
export const QEMU_SNAPSHOT = snapshotLayout("disk.qcow2");

/** The QEMU backend as hypervisor/index.ts lists it (the backend itself loads on first use). */
export const qemuModule: BackendModule<"qemu"> = {
  name: "qemu",
  autoRank: 10,
  summary: "QEMU microvm: runs everywhere (KVM when it works, else TCG emulation)",
  snapshotLayout: QEMU_SNAPSHOT,
  create: async (paths, env) => {
    const { QemuBackend } = await import("./backend.js");
    return new QemuBackend({ cacheDir: paths.vms, ...(env ? { env } : {}) });
  },
  // User-mode networking: a QEMU VM holds no host resource outside its VM directory.
  reapLeftovers: async () => [],
  doctor: async (paths, opts) => {
    const { qemuChecks } = await import("./doctor.js");
    return qemuChecks(paths, opts);
  },
};
