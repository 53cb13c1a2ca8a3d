import { promises as fs } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../store/atomic.js";

// What the daemon adds to a VM beyond its vm.json: labels, default exec environment, TTL and
// whether it is paused. Kept in the VM's own directory, so it goes with the VM and a restarted daemon
// finds it again.

export const META_FILE = "api.json";

export interface VmMeta {
  labels: Record<string, string>;
  env: Record<string, string>;
  /** When the daemon stops the VM (ISO 8601), or null for no TTL. */
  expires_at: string | null;
  /** Set while the VM is paused through the API (the hypervisor holds its vCPUs stopped). */
  paused?: boolean;
}

export async function writeVmMeta(dir: string, meta: VmMeta): Promise<void> {
  await writeFileAtomic(join(dir, META_FILE), `${JSON.stringify(meta)}\n`, 0o600);
}

export async function readVmMeta(dir: string): Promise<VmMeta> {
  try {
    const v = JSON.parse(await fs.readFile(join(dir, META_FILE), "utf8")) as Partial<VmMeta>;
    const obj = (x: unknown) =>
      typeof x === "object" && x !== null && !Array.isArray(x) ? (x as Record<string, string>) : {};
    return {
      labels: obj(v.labels),
      env: obj(v.env),
      expires_at: typeof v.expires_at === "string" ? v.expires_at : null,
      ...(v.paused === true ? { paused: true } : {}),
    };
  } catch {
    return { labels: {}, env: {}, expires_at: null };
  }
}
