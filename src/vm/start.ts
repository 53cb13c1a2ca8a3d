import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import { SNAPSHOT_DIR } from "../core/artifacts.js";
import { MvmError, messageOf } from "../core/errors.js";
import { pidAlive } from "../host/process.js";
import type { PhaseMark } from "../host/timeline.js";
import { DigestCache } from "../store/digest-cache.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { HypervisorBackend, PortForward, VmConfig, VmHandle } from "../hypervisor/backend.js";
import type { Keeper } from "../hypervisor/keeper/kept.js";
import { keepFailureLogs } from "./failure-logs.js";
import { waitReady } from "../guest/readiness.js";
import { checkRestorable } from "./restorable.js";
import { defaultVmName, loadTemplateImage } from "./template-image.js";
import {
  claimVmDir,
  listVmNames,
  readVmRecord,
  removeVmDir,
  VM_FILE,
  type VmRecord,
  vmNameProblem,
  writeVmRecord,
} from "./records.js";

// `mvmctl up --template T`: restore the template's snapshot when it is intact and matches this host,
// backend and the template's current sizing (restorable.ts), else cold-boot and say why in one line;
// then wait until every health check passes. A restore that fails before the guest is ready falls
// back to a cold boot, saying why (unless --no-fallback). Until the start has finished, any failure
// stops the VM and removes its directory; the logs the error points at are kept in <data>/logs.

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
  /** Fail instead of cold-booting when the snapshot cannot be restored (unless `cold` asks for it). */
  noFallback?: boolean;
  /** Called as each phase of the start ends (up --timings). */
  mark?: PhaseMark;
  /** Who owns the VM's hypervisor process (the daemon's own keeper); a keeper process by default. */
  keeper?: Keeper;
}

export interface StartedVm {
  record: VmRecord;
  vm: VmHandle;
  dir: string;
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
  const mark = req.mark ?? (() => {});
  const img = await loadTemplateImage(store, req.template, req.revision);
  const name = req.name ?? defaultVmName(req.template);
  const problem = vmNameProblem(name);
  if (problem) throw new MvmError("usage", `invalid --name ${JSON.stringify(name)}: ${problem}`);
  await sweepDeadVms(paths);
  const dir = await claimVmDir(paths, name);
  mark("image_load");
  let vm: VmHandle | undefined;
  let finished = false;
  let aborted = false;
  const abort = async () => {
    if (finished) return;
    aborted = true;
    await vm?.stop({ graceMs: 500 }).catch(() => {});
    await removeVmDir(dir).catch(() => {});
  };
  req.onVm?.(abort);
  try {
    const cfg: VmConfig = {
      name,
      dir,
      images: img.images,
      digests: img.digests,
      // The template's sizing as it is now: an `edit` since the build counts.
      vcpus: req.vcpus ?? img.spec.vcpus,
      memMib: req.memMib ?? img.spec.mem_mib,
      ports: req.ports,
      mark,
      ...(req.keeper ? { keeper: req.keeper } : {}),
    };
    const noRestore = await checkRestorable(img, backend, {
      config: cfg,
      cold: Boolean(req.cold),
      sizedByCaller: req.vcpus !== undefined || req.memMib !== undefined,
      digests: DigestCache.of(paths),
    });
    if (noRestore && req.noFallback && noRestore.kind !== "asked")
      throw new MvmError(
        noRestore.kind === "damaged" ? "corrupt" : "unsupported",
        `cannot restore ${req.template}: ${noRestore.reason}`,
        { hint: "Without --no-fallback it cold-boots instead." },
      );
    const record: VmRecord = {
      schema_version: 1,
      name,
      template: req.template,
      revision: img.current.rev,
      backend: backend.name,
      mode: noRestore ? "cold" : "restore",
      ...(noRestore ? { cold_reason: noRestore.reason } : {}),
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
    mark("snapshot_check");
    const t0 = Date.now();
    /** Starts the VM (restored or booted) and waits until it is ready. */
    const run = async (): Promise<void> => {
      const restoring = record.mode === "restore";
      vm = restoring
        ? await backend.restore(cfg, { dir: join(img.current.dir, SNAPSHOT_DIR) })
        : await backend.boot(cfg);
      record.pid = vm.pid;
      if (vm.keeperPid) record.keeper_pid = vm.keeperPid;
      record.guest_channel = vm.guestChannel;
      if (vm.guestVsockPort !== undefined) record.guest_vsock_port = vm.guestVsockPort;
      record.console_log = vm.consoleLog;
      await writeVmRecord(dir, record);
      mark("vm_record");
      await waitReady(vm, {
        timeoutMs: req.readyTimeoutMs,
        postRestore: restoring,
        syncClock: !restoring,
        restartServices: Boolean(cfg.drives?.config || cfg.drives?.secrets),
        onProgress: say,
        mark,
      });
    };
    if (noRestore) {
      say(`Cold boot: ${noRestore.reason}`);
      await run();
    } else {
      say(`Restoring ${req.template} from its snapshot`);
      try {
        await run();
      } catch (e) {
        if (aborted || req.noFallback || !restoreMayBeAtFault(e)) throw e;
        // The snapshot restored into something that never became ready: keep what it said, then
        // start over from scratch in the same VM directory.
        const kept = await keepFailureLogs(e, resolve(dir), paths.logs, name, {
          label: "restore-",
          ...(vm ? { consoleLog: vm.consoleLog } : {}),
        });
        // A dead VM says more than the socket error its death caused (EPIPE, ECONNRESET).
        const why = vm && !vm.processAlive() ? "the VM stopped before it was ready" : messageOf(e);
        await vm?.stop({ graceMs: 500 }).catch(() => {});
        vm = undefined;
        await emptyVmDir(dir);
        const hint = kept instanceof MvmError && kept.hint ? `; ${kept.hint}` : "";
        const reason = `restoring the snapshot failed (${why})${hint}`;
        record.mode = "cold";
        record.cold_reason = reason;
        record.pid = 0;
        delete record.keeper_pid;
        delete record.guest_vsock_port;
        await writeVmRecord(dir, record);
        say(`Cold boot: ${reason}`);
        mark("failed_restore");
        if (aborted) throw e;
        await run();
      }
    }
    if (!vm) throw new MvmError("internal", "the VM did not start");
    record.ready_ms = Date.now() - t0;
    await writeVmRecord(dir, record);
    mark("ready_record");
    finished = true;
    return { record, vm, dir };
  } catch (e) {
    const kept = await keepFailureLogs(e, resolve(dir), paths.logs, name, {
      ...(vm ? { consoleLog: vm.consoleLog } : {}),
    });
    await abort();
    throw kept;
  }
}

/**
 * Whether a failed restore may be the snapshot's fault (so a cold boot may succeed): not when the
 * request itself is wrong or a host port is taken, which a cold boot would meet the same way.
 */
function restoreMayBeAtFault(e: unknown): boolean {
  if (!(e instanceof MvmError)) return true;
  if (e.kind === "usage" || e.kind === "exists" || e.kind === "locked") return false;
  return !/host port already in use/.test(e.message);
}

/** Removes everything of a failed attempt from a VM directory except its record. */
async function emptyVmDir(dir: string): Promise<void> {
  for (const f of await fs.readdir(dir).catch(() => [] as string[]))
    if (f !== VM_FILE) await fs.rm(join(dir, f), { recursive: true, force: true }).catch(() => {});
}

/** Marks a started VM as detached (it outlives this mvmctl) and hands it over. */
export async function detachVm(started: StartedVm): Promise<void> {
  started.record.detached = true;
  await writeVmRecord(started.dir, started.record);
  started.vm.detach();
}
