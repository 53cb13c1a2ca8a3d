import { MvmError } from "../core/errors.js";
import type { DataPaths } from "../store/paths.js";
import type { BackendModule, BackendName, HypervisorBackend } from "./backend.js";
import { firecrackerModule } from "./firecracker/module.js";
import { qemuModule } from "./qemu/module.js";

// The hypervisor backends: one module per folder, listed here once. Backend names, the
// `--hypervisor` choices, the `auto` order, help texts and doctor's checks all derive from this list.

export const BACKEND_MODULES: readonly BackendModule[] = [qemuModule, firecrackerModule];

export type HypervisorChoice = "auto" | BackendName;
export const HYPERVISOR_CHOICES: readonly HypervisorChoice[] = [
  "auto",
  ...BACKEND_MODULES.map((m) => m.name),
];

/** `auto` tries these in order: the highest rank first. */
const AUTO_ORDER: readonly BackendModule[] = [...BACKEND_MODULES].sort((a, b) => b.autoRank - a.autoRank);

/** The text of a `--hypervisor` option: its choices and what `auto` does. */
export function hypervisorHelp(prefix = ""): string {
  return `${prefix}${HYPERVISOR_CHOICES.join(", ")} (auto: the first of ${AUTO_ORDER.map((m) => m.name).join(", ")} that can run here)`;
}

export function backendModule(name: BackendName): BackendModule {
  const m = BACKEND_MODULES.find((x) => x.name === name);
  if (!m)
    throw new MvmError("unsupported", `unknown hypervisor backend ${JSON.stringify(name)}`, {
      hint: `This mvmctl knows ${BACKEND_MODULES.map((x) => x.name).join(", ")}.`,
    });
  return m;
}

export function isBackendName(v: unknown): v is BackendName {
  return BACKEND_MODULES.some((m) => m.name === v);
}

export function parseHypervisor(v: string): HypervisorChoice {
  if ((HYPERVISOR_CHOICES as readonly string[]).includes(v)) return v as HypervisorChoice;
  throw new MvmError(
    "usage",
    `invalid --hypervisor ${JSON.stringify(v)}: must be one of ${HYPERVISOR_CHOICES.join(", ")}`,
  );
}

export async function backendByName(name: BackendName, paths: DataPaths): Promise<HypervisorBackend> {
  return backendModule(name).create(paths);
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
  for (const m of AUTO_ORDER) {
    const cheap = m.unavailableCheap?.();
    if (cheap) {
      reasons.push(`${m.name}: ${cheap}`);
      continue;
    }
    const b = await m.create(paths);
    const a = await b.available();
    if (a.ok) return b;
    reasons.push(`${m.name}: ${a.reason}`);
  }
  throw new MvmError("unsupported", `no hypervisor can run here (${reasons.join("; ")})`, {
    hint: "Install QEMU: apt-get install qemu-system-x86 qemu-utils",
  });
}
