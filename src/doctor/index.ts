import type { DataPaths } from "../store/paths.js";
import type { CheckFn, DoctorCheck } from "./check.js";
import { firecrackerChecks } from "../vm/firecracker-doctor.js";
import { checkConfig } from "./config-check.js";
import { checkDataDir, checkKvm, checkNix, checkQemu } from "./host-checks.js";
import { checkAcceleration, checkKit, checkRegistry } from "./store-checks.js";

/** Every check `mvmctl doctor` runs, in display order. Add a line here for a new one. */
export function allChecks(paths: DataPaths): CheckFn[] {
  return [
    checkNix,
    checkQemu,
    checkKvm,
    () => checkAcceleration(paths),
    () => firecrackerChecks(),
    () => checkKit(paths),
    () => checkDataDir(paths),
    () => checkRegistry(paths),
    checkConfig,
  ];
}

export async function runChecks(fns: CheckFn[]): Promise<DoctorCheck[]> {
  const results = await Promise.all(
    fns.map(async (fn) => {
      try {
        return await fn();
      } catch (e) {
        return {
          name: fn.name || "check",
          status: "fail" as const,
          detail: `check crashed: ${(e as Error).message}`,
        };
      }
    }),
  );
  return results.flat();
}
