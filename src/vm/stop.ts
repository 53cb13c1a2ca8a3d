import { pidAlive, signalPid, waitFor } from "../host/process.js";
import type { DataPaths } from "../store/paths.js";
import { backendByName } from "../hypervisor/index.js";
import { sweepDeadVms } from "./start.js";
import { listVmNames, readVmRecord, removeVmDir } from "./records.js";

/** Stops one VM (its hypervisor process, whoever started it) and removes its directory. */
export async function stopVm(paths: DataPaths, name: string): Promise<void> {
  const dir = paths.vm(name);
  const rec = await readVmRecord(dir);
  if (rec) {
    const backend = await backendByName(rec.backend, paths);
    const vm = await backend.attach(name, dir);
    if (vm) await vm.stop({ graceMs: 3000 });
    else if (rec.pid > 0 && pidAlive(rec.pid)) signalPid(rec.pid, "SIGKILL");
    // The keeper exits with its VM; give it a moment, it also removes the directory.
    if (rec.keeper_pid) await waitFor(() => !pidAlive(rec.keeper_pid as number), 3000);
  }
  await removeVmDir(dir);
}

/** Names of the VMs (running or starting, `build --snapshot`'s own included) of a template. */
export async function vmsOfTemplate(paths: DataPaths, template: string): Promise<string[]> {
  await sweepDeadVms(paths);
  const out: string[] = [];
  for (const name of await listVmNames(paths, true)) {
    const rec = await readVmRecord(paths.vm(name));
    if (rec?.template === template) out.push(name);
  }
  return out;
}
