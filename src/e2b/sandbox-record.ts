import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../store/atomic.js";

// What makes a VM an E2B sandbox: e2b.json in the VM's own directory (mode 0600), holding the
// sandbox's envd access token, its metadata and the envVars given at create. The sandbox id is the
// VM's name, so `mvmctl ls` and `mvmctl down` see sandboxes as the VMs they are, and the record
// goes with the VM's directory when the VM stops.

export const SANDBOX_FILE = "e2b.json";

export interface SandboxRecord {
  sandboxId: string;
  /** The template name. */
  templateId: string;
  /** The template reference as the client gave it (`name` or `name:tag`). */
  alias: string;
  envdAccessToken: string;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
}

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** An id in E2B's shape: 20 lowercase letters and digits, starting with a letter. */
export function newSandboxId(): string {
  let id = "i";
  while (id.length < 20) {
    for (const b of randomBytes(32)) {
      // 252 = 7 × 36: bytes at or above it are dropped, so every character is equally likely.
      if (b < 252 && id.length < 20) id += ID_ALPHABET[b % 36];
    }
  }
  return id;
}

export function newAccessToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Constant-time comparison of a presented secret with the expected one (digests, so no length leaks). */
export function secretMatches(given: string | undefined, want: string): boolean {
  const a = createHash("sha256")
    .update(given ?? "")
    .digest();
  const b = createHash("sha256").update(want).digest();
  return timingSafeEqual(a, b) && given !== undefined;
}

export async function writeSandboxRecord(vmDir: string, rec: SandboxRecord): Promise<void> {
  await writeFileAtomic(join(vmDir, SANDBOX_FILE), `${JSON.stringify(rec)}\n`, 0o600);
}

function stringMap(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

/** The sandbox record of a VM directory, or undefined when the VM is not an E2B sandbox. */
export async function readSandboxRecord(vmDir: string): Promise<SandboxRecord | undefined> {
  let v: Partial<SandboxRecord>;
  try {
    v = JSON.parse(await fs.readFile(join(vmDir, SANDBOX_FILE), "utf8")) as Partial<SandboxRecord>;
  } catch {
    return undefined;
  }
  if (
    typeof v.sandboxId !== "string" ||
    typeof v.templateId !== "string" ||
    typeof v.envdAccessToken !== "string" ||
    v.envdAccessToken.length < 16
  )
    return undefined;
  return {
    sandboxId: v.sandboxId,
    templateId: v.templateId,
    alias: typeof v.alias === "string" ? v.alias : v.templateId,
    envdAccessToken: v.envdAccessToken,
    metadata: stringMap(v.metadata),
    envVars: stringMap(v.envVars),
  };
}
