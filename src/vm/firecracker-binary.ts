// Finding the Firecracker binary and asking it its version.

import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { MvmError } from "../core/errors.js";

/** `network_overrides` on PUT /snapshot/load exists from this Firecracker version on. */
export const NETWORK_OVERRIDES_SINCE: readonly [number, number, number] = [1, 12, 0];

/** Where the binary is: `$MVM_FIRECRACKER_BIN` (must exist) or the first `firecracker` on `$PATH`. */
export async function findFirecracker(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const forced = env.MVM_FIRECRACKER_BIN?.trim();
  if (forced) return (await isExecutable(forced)) ? resolve(forced) : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, "firecracker");
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
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
