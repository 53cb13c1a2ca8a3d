import { BACKEND_MODULES } from "../hypervisor/index.js";
import type { DataPaths } from "../store/paths.js";
import type { CheckFn, DoctorCheck } from "./check.js";
import { checkConfig } from "./config-check.js";
import { checkDataDir, checkKvm, checkNix } from "./host-checks.js";
import { checkKit, checkRegistry, registryIsInDataDir } from "./store-checks.js";

/** A check that reads or writes under the data dir: skipped, with the reason, when the data dir is unusable. */
interface Check {
  run: CheckFn;
  /** The names of its rows, for the "not checked" row shown instead. */
  needsDataDir?: string;
}

/**
 * Every check `mvmctl doctor` runs, in display order. Add a line here for a new one; each hypervisor
 * backend brings its own (its module's `doctor`).
 */
async function allChecks(paths: DataPaths, dataDir: DoctorCheck[]): Promise<Check[]> {
  const dataDirUsable = dataDir.every((c) => c.status !== "fail");
  return [
    { run: checkNix },
    { run: checkKvm },
    ...BACKEND_MODULES.map((m) => ({ run: () => m.doctor(paths, { dataDirUsable }) })),
    { run: () => checkKit(paths), needsDataDir: "guest kit" },
    { run: async () => dataDir },
    {
      run: () => checkRegistry(paths),
      ...((await registryIsInDataDir(paths)) ? { needsDataDir: "registry" } : {}),
    },
    { run: checkConfig },
  ];
}

/** Runs every check; the data dir is checked first because several others use it. */
export async function runDoctor(paths: DataPaths): Promise<DoctorCheck[]> {
  const dataDir = await checkDataDir(paths);
  const usable = dataDir.every((c) => c.status !== "fail");
  return runChecks(
    (await allChecks(paths, dataDir)).map((c) =>
      usable || c.needsDataDir === undefined
        ? c.run
        : async (): Promise<DoctorCheck> => ({
            name: c.needsDataDir as string,
            status: "warn",
            detail: "not checked: the data dir is not usable",
          }),
    ),
  );
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
