// Finding the Firecracker binary and asking it its version.

import { execFile } from "node:child_process";
import { MvmError } from "../../core/errors.js";
import { lookupTool } from "../../host/tools.js";

/** `network_overrides` on PUT /snapshot/load exists from this Firecracker version on. */
export const NETWORK_OVERRIDES_SINCE: readonly [number, number, number] = [1, 12, 0];

/** Where the binary is: `$MVM_FIRECRACKER_BIN` (must exist) or the first `firecracker` on `$PATH`. */
export async function findFirecracker(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return lookupTool("firecracker", env).path;
}

/** Runs `firecracker --version` and returns e.g. "1.12.1". */
export function firecrackerVersion(bin: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(bin, ["--version"], { timeout: 10_000, env }, (err, stdout, stderr) => {
      if (err) {
        const said = String(stderr).trim().split("\n")[0] || err.message;
        reject(new MvmError("external", `${bin} --version failed: ${said}`));
        return;
      }
      const m = /Firecracker v?(\d+\.\d+\.\d+[\w.+-]*)/i.exec(String(stdout));
      if (!m?.[1]) {
        reject(
          new MvmError("external", `${bin} --version printed no Firecracker version: ${firstLine(stdout)}`),
        );
        return;
      }
      resolvePromise(m[1]);
    });
  });
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
