import { promises as fs } from "node:fs";
import { join } from "node:path";
import { SNAPSHOT_DIR } from "../core/artifacts.js";
import { MvmError } from "../core/errors.js";
import { fingerprintMismatches } from "../core/snapshot.js";
import { pidAlive } from "../store/atomic.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { HypervisorBackend, PortForward, VmConfig, VmHandle } from "./backend.js";
import { waitReady } from "./readiness.js";
import { defaultVmName, loadTemplateImage, type TemplateImage } from "./template-vm.js";
import {
  claimVmDir,
  listVmNames,
  readVmRecord,
  removeVmDir,
  type VmRecord,
  vmNameProblem,
  writeVmRecord,
} from "./vm-state.js";

// `mvmctl up --template T`: restore the template's snapshot when it matches this host and backend
// (every fingerprint field), else cold-boot and say why in one line; then wait until every health
// check passes. Until the start has finished, any failure stops the VM and removes its directory.

export interface StartRequest {
  template: string;
  /** A revision other than the current one (what a tag or digest names). */
  revision?: string;
  name?: string;
  cold?: boolean;
  vcpus?: number;
  memMib?: number;
  ports: PortForward[];
  readyTimeoutMs: number;
  onProgress?: (msg: string) => void;
  /** Lets the caller stop a start in progress on Ctrl-C. */
  onVm?: (abort: () => Promise<void>) => void;
}

export interface StartedVm {
  record: VmRecord;
  vm: VmHandle;
  dir: string;
}

/** Why the snapshot cannot be used, or undefined when it can. */
async function coldReason(
  img: TemplateImage,
  backend: HypervisorBackend,
  cfg: VmConfig,
  cold: boolean | undefined,
): Promise<string | undefined> {
  if (cold) return "--cold was given";
  const snap = img.revision.snapshot;
  if (!snap) return `template ${img.template} has no snapshot (build it with --snapshot)`;
  if (!(await backend.capabilities()).snapshots)
    return `the ${backend.name} backend cannot restore snapshots`;
  if ((snap.backend ?? "firecracker") !== backend.name)
    return `the snapshot was taken with ${snap.backend ?? "firecracker"}, this VM runs on ${backend.name}`;
  const dir = join(img.current.dir, SNAPSHOT_DIR);
  for (const f of ["vmstate.bin", "mem.bin"])
    try {
      await fs.access(join(dir, f));
    } catch {
      return `the snapshot file ${join(SNAPSHOT_DIR, f)} is missing`;
    }
  if (!snap.fingerprint) return "the snapshot has no fingerprint (taken by an older mvmctl)";
  const diff = fingerprintMismatches(snap.fingerprint, await backend.fingerprint(cfg));
  if (diff.length > 0) return `the snapshot does not match: ${diff.join("; ")}`;
  return undefined;
}

/** Removes directories of VMs whose process is gone (killed keeper, host crash). */
export async function sweepDeadVms(paths: DataPaths): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listVmNames(paths, true)) {
    const dir = paths.vm(name);
    const rec = await readVmRecord(dir);
    const st = await fs.stat(dir).catch(() => undefined);
    // A VM being started has pid 0 until its hypervisor runs; only an hour-old one is abandoned.
    const abandoned = st ? Date.now() - st.mtimeMs > 3_600_000 : false;
    const dead = rec && rec.pid > 0 ? !pidAlive(rec.pid) : abandoned;
    if (dead) {
      await removeVmDir(dir).catch(() => {});
      removed.push(name);
    }
  }
  return removed;
}

export async function startVm(
  store: TemplateStore,
  paths: DataPaths,
  backend: HypervisorBackend,
  req: StartRequest,
): Promise<StartedVm> {
  const say = req.onProgress ?? (() => {});
  const img = await loadTemplateImage(store, req.template, req.revision);
  const name = req.name ?? defaultVmName(req.template);
  const problem = vmNameProblem(name);
  if (problem) throw new MvmError("usage", `invalid --name ${JSON.stringify(name)}: ${problem}`);
  await sweepDeadVms(paths);
  const dir = await claimVmDir(paths, name);
  let vm: VmHandle | undefined;
  let finished = false;
  const abort = async () => {
    if (finished) return;
    await vm?.stop({ graceMs: 500 }).catch(() => {});
    await removeVmDir(dir).catch(() => {});
  };
  req.onVm?.(abort);
  try {
    const rev = img.revision;
    const cfg: VmConfig = {
      name,
      dir,
      images: img.images,
      digests: img.digests,
      vcpus: req.vcpus ?? rev.vcpus,
      memMib: req.memMib ?? rev.mem_mib,
      ports: req.ports,
    };
    const reason = await coldReason(img, backend, cfg, req.cold);
    const mode = reason ? "cold" : "restore";
    const record: VmRecord = {
      schema_version: 1,
      name,
      template: req.template,
      revision: img.current.rev,
      backend: backend.name,
      mode,
      ...(reason ? { cold_reason: reason } : {}),
      pid: 0,
      ports: req.ports.map((p) => ({
        host: p.host,
        guest: p.guest,
        host_address: p.hostAddress ?? "127.0.0.1",
      })),
      vcpus: cfg.vcpus,
      mem_mib: cfg.memMib,
      created_at: new Date().toISOString(),
      detached: false,
      guest_channel: "",
      console_log: "",
    };
    // Recorded before the VM exists, so `template prune` never removes the revision under it.
    await writeVmRecord(dir, record);
    if (reason) say(`Cold boot: ${reason}`);
    else say(`Restoring ${req.template} from its snapshot`);
    const t0 = Date.now();
    vm =
      mode === "restore"
        ? await backend.restore(cfg, { dir: join(img.current.dir, SNAPSHOT_DIR) })
        : await backend.boot(cfg);
    record.pid = vm.pid;
    const keeperPid = (vm as { keeperPid?: number }).keeperPid;
    if (keeperPid) record.keeper_pid = keeperPid;
    record.guest_channel = vm.guestChannel;
    record.console_log = vm.consoleLog;
    await writeVmRecord(dir, record);
    await waitReady(vm, {
      timeoutMs: req.readyTimeoutMs,
      postRestore: mode === "restore",
      restartServices: Boolean(cfg.drives?.config || cfg.drives?.secrets),
      onProgress: say,
    });
    record.ready_ms = Date.now() - t0;
    await writeVmRecord(dir, record);
    finished = true;
    return { record, vm, dir };
  } catch (e) {
    await abort();
    throw e;
  }
}

/** Marks a started VM as detached (it outlives this mvmctl) and hands it over. */
export async function detachVm(started: StartedVm): Promise<void> {
  started.record.detached = true;
  await writeVmRecord(started.dir, started.record);
  started.vm.detach?.();
}
