import { promises as fs } from "node:fs";
import { join } from "node:path";
import { SNAPSHOT_DIR } from "../core/artifacts.js";
import { MvmError } from "../core/errors.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { HypervisorBackend } from "../hypervisor/backend.js";
import { backendModule } from "../hypervisor/index.js";
import { startVm } from "./start.js";
import { loadTemplateImage } from "./template-image.js";
import { removeVmDir } from "./records.js";

// `template bench`: cold-boot-to-ready and restore-to-ready of one template on one backend, measured
// alternately in the same run (so host load hits both alike), reported as medians and their ratio,
// with the snapshot's size on disk next to the guest's memory.

export interface BenchSamples {
  median_ms: number;
  samples_ms: number[];
}

export interface TemplateBenchResult {
  template: string;
  revision: string;
  backend: string;
  runs: number;
  guest_mem_mib: number;
  cold: BenchSamples;
  restore: BenchSamples;
  /** cold median / restore median */
  ratio: number;
  snapshot: {
    vmstate_bytes: number;
    mem_bytes: number;
    mem_allocated_bytes: number;
    disk_bytes: number;
    disk_allocated_bytes: number;
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function sizes(path: string): Promise<{ bytes: number; allocated: number }> {
  const st = await fs.stat(path);
  return { bytes: st.size, allocated: st.blocks * 512 };
}

export async function benchTemplate(
  store: TemplateStore,
  paths: DataPaths,
  backend: HypervisorBackend,
  template: string,
  opts: { runs: number; readyTimeoutMs: number; onProgress?: (m: string) => void },
): Promise<TemplateBenchResult> {
  const img = await loadTemplateImage(store, template);
  const snap = img.revision.snapshot;
  if (!snap)
    throw new MvmError("not_found", `template ${template} has no snapshot to restore`, {
      hint: `Build it with 'mvmctl template build ${template} --snapshot'.`,
    });
  const cold: number[] = [];
  const restore: number[] = [];
  const once = async (mode: "cold" | "restore"): Promise<number> => {
    const started = await startVm(store, paths, backend, {
      template,
      name: `bench-${process.pid}-${mode}`,
      cold: mode === "cold",
      ports: [],
      readyTimeoutMs: opts.readyTimeoutMs,
    });
    try {
      if (started.record.mode !== mode)
        throw new MvmError(
          "external",
          `expected a ${mode} start, got ${started.record.mode}: ${started.record.cold_reason}`,
        );
      return started.record.ready_ms ?? 0;
    } finally {
      await started.vm.stop({ graceMs: 1000 });
      await removeVmDir(started.dir);
    }
  };
  for (let i = 0; i < opts.runs; i++) {
    const c = await once("cold");
    cold.push(c);
    const r = await once("restore");
    restore.push(r);
    opts.onProgress?.(`run ${i + 1}/${opts.runs}: cold ${c} ms, restore ${r} ms`);
  }
  const coldMedian = median(cold);
  const restoreMedian = median(restore);
  return {
    template,
    revision: img.current.rev,
    backend: backend.name,
    runs: opts.runs,
    guest_mem_mib: snap.mem_mib,
    cold: { median_ms: coldMedian, samples_ms: cold },
    restore: { median_ms: restoreMedian, samples_ms: restore },
    ratio: restoreMedian > 0 ? coldMedian / restoreMedian : 0,
    snapshot: await snapshotSizes(join(img.current.dir, SNAPSHOT_DIR), backend),
  };
}

/** The sizes of a snapshot's files on disk (apparent and allocated), by the backend's layout. */
export async function snapshotSizes(
  dir: string,
  backend: HypervisorBackend,
): Promise<TemplateBenchResult["snapshot"]> {
  const layout = backendModule(backend.name).snapshotLayout;
  const mem = await sizes(join(dir, layout.mem));
  const disk = await sizes(join(dir, layout.disk));
  const vmstate = await sizes(join(dir, layout.vmstate));
  return {
    vmstate_bytes: vmstate.bytes,
    mem_bytes: mem.bytes,
    mem_allocated_bytes: mem.allocated,
    disk_bytes: disk.bytes,
    disk_allocated_bytes: disk.allocated,
  };
}
