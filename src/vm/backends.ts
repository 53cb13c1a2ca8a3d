import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { lookupTool } from "../host/tools.js";
import type { DataPaths } from "../store/paths.js";
import type { BackendName, HypervisorBackend } from "./backend.js";
import { QemuBackend } from "./qemu.js";

// Backend selection: `--hypervisor auto|qemu|firecracker`. One line per backend in BACKENDS; `auto`
// takes the first one in AUTO_ORDER whose `available()` says yes.

export type HypervisorChoice = "auto" | BackendName;
export const HYPERVISOR_CHOICES: readonly HypervisorChoice[] = ["auto", "qemu", "firecracker"];

type Factory = (paths: DataPaths) => Promise<HypervisorBackend>;

const BACKENDS: Record<BackendName, Factory> = {
  qemu: async (paths) => new QemuBackend({ cacheDir: paths.vms, versionCacheDir: join(paths.root, "cache") }),
  firecracker: async (paths) => {
    const { FirecrackerBackend } = await import("./firecracker.js");
    return new FirecrackerBackend({ paths });
  },
};

/** Firecracker first: where it can run (KVM and the binary), it is what production uses. */
const AUTO_ORDER: readonly BackendName[] = ["firecracker", "qemu"];

export function parseHypervisor(v: string): HypervisorChoice {
  if ((HYPERVISOR_CHOICES as readonly string[]).includes(v)) return v as HypervisorChoice;
  throw new MvmError(
    "usage",
    `invalid --hypervisor ${JSON.stringify(v)}: must be one of ${HYPERVISOR_CHOICES.join(", ")}`,
  );
}

export async function backendByName(name: BackendName, paths: DataPaths): Promise<HypervisorBackend> {
  return BACKENDS[name](paths);
}

/** The backend to use: the one asked for (it must be available), or the first available one. */
export async function selectBackend(choice: HypervisorChoice, paths: DataPaths): Promise<HypervisorBackend> {
  if (choice !== "auto") {
    const b = await backendByName(choice, paths);
    const a = await b.available();
    if (!a.ok) throw new MvmError("unsupported", `the ${choice} backend cannot run here: ${a.reason}`);
    return b;
  }
  const reasons: string[] = [];
  for (const name of AUTO_ORDER) {
    // Without a firecracker binary, Firecracker cannot be available: skip loading its module.
    if (name === "firecracker" && !lookupTool("firecracker").path) {
      reasons.push(
        `firecracker: firecracker binary not found: ${lookupTool("firecracker").problem} (set MVM_FIRECRACKER_BIN or add it to PATH)`,
      );
      continue;
    }
    const b = await backendByName(name, paths);
    const a = await b.available();
    if (a.ok) return b;
    reasons.push(`${name}: ${a.reason}`);
  }
  throw new MvmError("unsupported", `no hypervisor can run here (${reasons.join("; ")})`, {
    hint: "Install QEMU: apt-get install qemu-system-x86 qemu-utils",
  });
}
