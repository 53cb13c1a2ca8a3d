import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import { SNAPSHOT_DIR } from "../core/artifacts.js";
import type { SnapshotInfo } from "../core/snapshot.js";
import { toJson } from "../core/schema.js";
import { revisionTimestamp } from "../core/time.js";
import { removeDirAtomic, sweepTemps, tempSibling } from "../store/atomic.js";
import { checksumsAfter, writeChecksumsFile } from "../store/checksums.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { HypervisorBackend, VmConfig, VmHandle } from "../hypervisor/backend.js";
import { keepFailureLogs } from "./failure-logs.js";
import { waitReady } from "../guest/readiness.js";
import { checkRestorable } from "./restorable.js";
import { loadTemplateImage, type TemplateImage } from "./template-image.js";
import { claimVmDir, removeVmDir, type VmRecord, writeVmRecord } from "./records.js";
import { type PreparedGuest, prepareGuestForSnapshot } from "./prepare-snapshot.js";

// `template build --snapshot`: boot the current revision once, wait until every health check passes,
// pause and save it into the revision's snapshot/ directory, record SnapshotInfo with the fingerprint
// that a restore must match, and re-hash the revision so `verify` covers the snapshot files. The
// temporary VM and the staging directory are removed on every path (failure, Ctrl-C: see `abort`).

export interface SnapshotRequest {
  readyTimeoutMs: number;
  onProgress?: (msg: string) => void;
  /** Lets the caller stop the temporary VM on Ctrl-C. */
  onVm?: (abort: () => Promise<void>) => void;
}

export interface SnapshotOutcome {
  template: string;
  revision: string;
  snapshot: SnapshotInfo;
  /** Milliseconds from starting the VM until every health check passed (0 when reused). */
  ready_ms: number;
  /** The revision already had a snapshot matching this backend and host: nothing was redone. */
  reused: boolean;
  /** What the guest freed before the pause (null: it could not; absent when reused). */
  prepared?: PreparedGuest | null;
}

/** The VM a snapshot of this revision is taken with: the revision's images and sizing. */
function snapshotConfig(img: TemplateImage, name: string, dir: string): VmConfig {
  return {
    name,
    dir,
    images: img.images,
    digests: img.digests,
    vcpus: img.revision.vcpus,
    memMib: img.revision.mem_mib,
    ports: [],
    snapshotable: true,
  };
}

/** The revision's snapshot, when a VM of the revision could restore it now (the check `up` makes). */
async function reusableSnapshot(
  img: TemplateImage,
  backend: HypervisorBackend,
): Promise<SnapshotInfo | undefined> {
  const snap = img.revision.snapshot;
  if (!snap) return undefined;
  const config = snapshotConfig(img, "probe", "/nonexistent");
  const why = await checkRestorable(img, backend, { config, sizedByCaller: true });
  return why ? undefined : snap;
}

export async function snapshotTemplate(
  store: TemplateStore,
  paths: DataPaths,
  backend: HypervisorBackend,
  template: string,
  req: SnapshotRequest,
): Promise<SnapshotOutcome> {
  const say = req.onProgress ?? (() => {});
  return store.withLock(template, async () => {
    const img = await loadTemplateImage(store, template);
    const rev = img.revision;
    // Staging directories of snapshot builds that were killed (SIGKILL leaves no chance to clean up).
    await sweepTemps(img.current.dir);
    const existing = await reusableSnapshot(img, backend);
    if (existing) {
      say(`Snapshot of ${rev.revision_hash.slice(0, 12)} is up to date`);
      return { template, revision: img.current.rev, snapshot: existing, ready_ms: 0, reused: true };
    }
    const vmName = `.snapshot-${template}-${randomBytes(3).toString("hex")}`;
    const dir = await claimVmDir(paths, vmName);
    const staging = tempSibling(join(img.current.dir, SNAPSHOT_DIR), "tmp");
    let vm: VmHandle | undefined;
    const cleanup = async () => {
      await vm?.stop({ graceMs: 500 }).catch(() => {});
      await removeVmDir(dir).catch(() => {});
      await fs.rm(staging, { recursive: true, force: true }).catch(() => {});
    };
    req.onVm?.(cleanup);
    try {
      const cfg = snapshotConfig(img, vmName.slice(1), dir);
      const record: VmRecord = {
        schema_version: 1,
        name: vmName,
        template,
        revision: img.current.rev,
        backend: backend.name,
        mode: "cold",
        pid: 0,
        ports: [],
        vcpus: cfg.vcpus,
        mem_mib: cfg.memMib,
        created_at: new Date().toISOString(),
        detached: false,
        guest_channel: "",
        console_log: "",
      };
      await writeVmRecord(dir, record);
      say(`Creating snapshot: booting ${template} (${rev.revision_hash.slice(0, 12)}) on ${backend.name}`);
      const t0 = Date.now();
      vm = await backend.boot(cfg);
      await writeVmRecord(dir, { ...record, pid: vm.pid });
      say("Waiting for the guest agent and every health check");
      await waitReady(vm, { timeoutMs: req.readyTimeoutMs, syncClock: true, onProgress: say });
      const readyMs = Date.now() - t0;
      const prepared = (await prepareGuestForSnapshot(vm, say)) ?? null;
      say(`Ready after ${(readyMs / 1000).toFixed(1)} s; pausing and saving`);
      const saved = await vm.snapshot({ dir: staging, rootfs: img.images.rootfs });
      const info: SnapshotInfo = {
        created_at: revisionTimestamp(),
        vmstate_size_bytes: saved.vmstateBytes,
        mem_size_bytes: saved.memBytes,
        boot_args: saved.bootArgs,
        vcpus: cfg.vcpus,
        mem_mib: cfg.memMib,
        mem_allocated_bytes: saved.memAllocatedBytes,
        backend: backend.name,
        fingerprint: saved.fingerprint,
      };
      // Crash-safe order: forget the old snapshot, swap the directory, then record the new one. A
      // snapshot counts only when revision.json describes it, so no crash leaves a mismatched pair.
      // Every hash is computed first, so the swap and the checksums.json that covers it follow each
      // other within a few file operations (a kill in that short window is the remaining gap).
      const final = join(img.current.dir, SNAPSHOT_DIR);
      const updated = { ...rev, snapshot: info };
      const replace: Record<string, string> = {};
      for (const name of await fs.readdir(staging)) replace[`${SNAPSHOT_DIR}/${name}`] = join(staging, name);
      const sums = await checksumsAfter(
        img.current.dir,
        template,
        img.current.rev,
        replace,
        toJson(updated),
        `${SNAPSHOT_DIR}/`,
      );
      await store.writeRevision(img.current.dir, { ...rev, snapshot: null });
      await removeDirAtomic(final);
      await fs.rename(staging, final);
      await store.writeRevision(img.current.dir, updated);
      await writeChecksumsFile(img.current.dir, sums);
      return {
        template,
        revision: img.current.rev,
        snapshot: info,
        ready_ms: readyMs,
        reused: false,
        prepared,
      };
    } catch (e) {
      // The temporary VM's directory goes: keep the logs the error points at.
      throw await keepFailureLogs(e, resolve(dir), paths.logs, vmName.slice(1), {
        ...(vm ? { consoleLog: vm.consoleLog } : {}),
      });
    } finally {
      await cleanup();
    }
  });
}
