import { join } from "node:path";
import { QEMU_SNAPSHOT } from "./snapshot-layout.js";
import type { BackendModule } from "../backend.js";

/** The QEMU backend as hypervisor/index.ts lists it (the backend itself loads on first use). */
export const qemuModule: BackendModule = {
  name: "qemu",
  autoRank: 10,
  summary: "QEMU microvm: runs everywhere (KVM when it works, else TCG emulation)",
  snapshotLayout: QEMU_SNAPSHOT,
  create: async (paths, env) => {
    const { QemuBackend } = await import("./backend.js");
    return new QemuBackend({
      cacheDir: paths.vms,
      versionCacheDir: join(paths.root, "cache"),
      ...(env ? { env } : {}),
    });
  },
  // User-mode networking: a QEMU VM holds no host resource outside its VM directory.
  reapLeftovers: async () => [],
  doctor: async (paths, opts) => {
    const { qemuChecks } = await import("./doctor.js");
    return qemuChecks(paths, opts);
  },
};
