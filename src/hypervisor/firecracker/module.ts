import { snapshotLayout } from "../../core/snapshot.js";
import type { BackendModule } from "../backend.js";

/** A Firecracker snapshot: its vmstate, the full memory file, and a copy of the VM's rootfs. */
export const FC_SNAPSHOT = snapshotLayout("disk.ext4");

/** The Firecracker backend as hypervisor/index.ts lists it (the backend itself loads on first use). */
export const firecrackerModule: BackendModule<"firecracker"> = {
  name: "firecracker",
  // Where it can run (KVM and the binary), it is what production uses.
  autoRank: 20,
  summary: "Firecracker: needs a working /dev/kvm and the firecracker binary",
  snapshotLayout: FC_SNAPSHOT,
  create: async (paths, env) => {
    const { FirecrackerBackend } = await import("./backend.js");
    return new FirecrackerBackend({ paths, ...(env ? { env } : {}) });
  },
  reapLeftovers: async (paths) => {
    const { reapFirecrackerTaps } = await import("./vmdir.js");
    return reapFirecrackerTaps(paths);
  },
  doctor: async () => {
    const { firecrackerChecks } = await import("./doctor.js");
    return firecrackerChecks();
  },
};
