import { promises as fs } from "node:fs";
import { basename, join } from "node:path";
import { MvmError } from "../core/errors.js";

// The guest needs these drivers; the Debian cloud kernel builds them as modules. Their
// dependencies come from modules.dep, and every module is loaded after the ones it depends on.
export const WANTED_MODULES = [
  "virtio_mmio",
  "virtio_pci",
  "virtio_blk",
  "virtio_console",
  "virtio_net",
  // Firecracker's only guest channel is virtio-vsock (QEMU uses virtio-serial), so the same kit
  // serves both. Named one by one in load order, not left to modules.dep's indirect dependencies.
  "vsock",
  "vmw_vsock_virtio_transport_common",
  "vmw_vsock_virtio_transport",
  "virtio_rng",
] as const;

/** Modules the guest cannot boot without; the others are skipped with a warning if absent. */
const REQUIRED = new Set(["virtio_mmio", "virtio_blk", "virtio_console"]);

export interface ModulePlan {
  /** Load order: dependencies first. */
  order: string[];
  /** module name → path relative to the modules dir (as in modules.dep). */
  files: Map<string, string>;
  missing: string[];
}

function moduleName(relPath: string): string {
  return basename(relPath)
    .replace(/\.ko(\.(xz|zst|gz))?$/, "")
    .replace(/-/g, "_");
}

export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const out = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(moduleName);
    out.set(moduleName(file), { file, deps });
  }
  return out;
}

export function planModules(
  dep: Map<string, { file: string; deps: string[] }>,
  wanted: readonly string[],
): ModulePlan {
  const order: string[] = [];
  const files = new Map<string, string>();
  const missing: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (files.has(name)) return;
    const entry = dep.get(name);
    if (!entry) {
      missing.push(name);
      return;
    }
    if (visiting.has(name)) return; // modules.dep is acyclic; be safe anyway
    visiting.add(name);
    // modules.dep lists indirect dependencies too, deepest last; visiting each recursively orders them.
    for (const d of [...entry.deps].reverse()) visit(d);
    files.set(name, entry.file);
    order.push(name);
  };
  for (const w of wanted) visit(w);
  return { order, files, missing };
}

export async function resolveModules(modulesDir: string): Promise<ModulePlan> {
  const text = await fs.readFile(join(modulesDir, "modules.dep"), "utf8");
  const plan = planModules(parseModulesDep(text), WANTED_MODULES);
  const fatal = plan.missing.filter((m) => REQUIRED.has(m));
  if (fatal.length > 0)
    throw new MvmError("unsupported", `the guest kernel in ${modulesDir} has no ${fatal.join(", ")} module`, {
      hint: "Use Debian's linux-image-cloud-amd64 kernel: apt-get install -y linux-image-cloud-amd64",
    });
  return plan;
}
