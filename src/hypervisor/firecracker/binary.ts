// Finding the Firecracker binary and asking it its version.

import { MvmError } from "../../core/errors.js";
import { runProgram } from "../../host/process.js";
import { lookupTool } from "../../host/tools.js";

/** `network_overrides` on PUT /snapshot/load exists from this Firecracker version on. */
export const NETWORK_OVERRIDES_SINCE: readonly [number, number, number] = [1, 12, 0];

/** Where the binary is: `$MVM_FIRECRACKER_BIN` (must exist) or the first `firecracker` on `$PATH`. */
export async function findFirecracker(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return lookupTool("firecracker", env).path;
}

/** Runs `firecracker --version` and returns e.g. "1.12.1". */
export async function firecrackerVersion(bin: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const failed = (said: string) => new MvmError("external", `${bin} --version failed: ${said}`);
  const r = await runProgram(bin, ["--version"], {
    env,
    timeoutMs: 10_000,
    missing: () => failed(`spawn ${bin} ENOENT`),
  });
  if (r.timedOut) throw failed("timed out");
  if (r.code !== 0) throw failed(r.stderr.trim().split("\n")[0] || `exit status ${r.code}`);
  const m = /Firecracker v?(\d+\.\d+\.\d+[\w.+-]*)/i.exec(r.stdout);
  if (!m?.[1])
    throw new MvmError("external", `${bin} --version printed no Firecracker version: ${firstLine(r.stdout)}`);
  return m[1];
}

/** Compares dotted versions numerically (pre-release suffixes ignored). */
export function versionAtLeast(version: string, min: readonly [number, number, number]): boolean {
  const parts = version.split(/[.-]/).map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < 3; i++) {
    const have = Number.isFinite(parts[i]) ? (parts[i] as number) : 0;
    if (have !== min[i]) return have > (min[i] as number);
  }
  return true;
}

function firstLine(s: string | Buffer): string {
  return String(s).trim().split("\n")[0] ?? "";
}
