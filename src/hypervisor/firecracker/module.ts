import { lookupTool } from "../../host/tools.js";
import type { BackendModule } from "../backend.js";
import { FC_SNAPSHOT } from "./snapshot-layout.js";

/** The Firecracker backend as hypervisor/index.ts lists it (the backend itself loads on first use). */
export const firecrackerModule: BackendModule = {
  name: "firecracker",
  // Where it can run (KVM and the binary), it is what production uses.
  autoRank: 20,
  summary: "Firecracker: needs a working /dev/kvm and the firecracker binary",
  snapshotLayout: FC_SNAPSHOT,
  create: async (paths, env) => {
    const { FirecrackerBackend } = await import("./backend.js");
    return new FirecrackerBackend({ paths, ...(env ? { env } : {}) });
  },
  unavailableCheap: (env) => {
    const found = lookupTool("firecracker", env);
    return found.path
      ? undefined
      : `firecracker binary not found: ${found.problem} (set MVM_FIRECRACKER_BIN or add it to PATH)`;
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
