import { loadRefs } from "../store/refs.js";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import type { DataPaths } from "../store/paths.js";
import { removeDirAtomic } from "../store/atomic.js";
import type { TemplateStore } from "../store/templates.js";

// `template prune`: removes a template's old revisions. Never the current one, never a tagged one, never one a VM uses (the
// run side records each VM's template and revision in <data>/vms/<vm>/vm.json), and the newest `keep`
// others stay. Bytes freed counts only files that have no other link: an artifact hard-linked from the
// Nix store keeps its bytes until nix collects the store path.

export interface PruneEntry {
  rev: string;
  built_at: string | null;
  /** Bytes the removal gives back to the filesystem. */
  freed_bytes: number;
  /** Bytes the revision occupies, including files shared with the Nix store. */
  allocated_bytes: number;
}

export interface KeptEntry {
  rev: string;
  reason: "current" | "in use" | "tagged" | "recent";
  vms?: string[];
}

export interface PruneResult {
  template: string;
  dry_run: boolean;
  removed: PruneEntry[];
  kept: KeptEntry[];
  freed_bytes: number;
}

/** Revisions of `template` that VMs reference, with the VMs' names. */
export async function revisionsInUse(paths: DataPaths, template: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const vms = await fs.readdir(paths.vms).catch(() => [] as string[]);
  for (const vm of vms) {
    if (vm.startsWith(".")) continue;
    const text = await fs.readFile(join(paths.vm(vm), "vm.json"), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    let state: { template?: unknown; revision?: unknown };
    try {
      state = JSON.parse(text) as typeof state;
    } catch {
      continue; // being written, or not ours: such a VM cannot be matched to a revision
    }
    if (state.template === template && typeof state.revision === "string")
      out.set(state.revision, [...(out.get(state.revision) ?? []), vm]);
  }
  return out;
}

async function usage(dir: string): Promise<{ freed: number; allocated: number }> {
  let freed = 0;
  let allocated = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await usage(p);
      freed += sub.freed;
      allocated += sub.allocated;
      continue;
    }
    const st = await fs.lstat(p).catch(() => undefined);
    if (!st) continue;
    allocated += st.blocks * 512;
    if (st.nlink <= 1) freed += st.blocks * 512;
  }
  return { freed, allocated };
}

export async function pruneTemplate(
  store: TemplateStore,
  name: string,
  opts: { keep: number; dryRun: boolean },
): Promise<PruneResult> {
  await store.loadSpec(name); // a clear "does not exist" before anything else
  return store.withLock(name, async () => {
    await store.sweep(name);
    const current = await store.currentRevisionId(name).catch(() => undefined);
    const inUse = await revisionsInUse(store.paths, name);
    const tagged = new Set(Object.values((await loadRefs(store, name)).tags));
    const kept: KeptEntry[] = [];
    const candidates: Array<{ rev: string; dir: string; built_at: string | null; mtime: number }> = [];
    for (const rev of await store.listRevisions(name)) {
      if (rev === current) {
        kept.push({ rev, reason: "current" });
        continue;
      }
      const vms = inUse.get(rev);
      if (vms) {
        kept.push({ rev, reason: "in use", vms });
        continue;
      }
      if (tagged.has(rev)) {
        kept.push({ rev, reason: "tagged" });
        continue;
      }
      const dir = await store.revisionDir(name, rev);
      if (!dir) continue;
      const record = await store.loadRevisionAt(dir).catch(() => undefined);
      const mtime = (await fs.stat(dir)).mtimeMs;
      candidates.push({ rev, dir, built_at: record?.built_at ?? null, mtime });
    }
    // Newest first: by build time when recorded (same format, so strings compare), else by mtime.
    candidates.sort((a, b) =>
      a.built_at && b.built_at && a.built_at !== b.built_at
        ? a.built_at < b.built_at
          ? 1
          : -1
        : b.mtime - a.mtime,
    );
    for (const c of candidates.slice(0, opts.keep)) kept.push({ rev: c.rev, reason: "recent" });
    const removed: PruneEntry[] = [];
    for (const c of candidates.slice(opts.keep)) {
      const u = await usage(c.dir);
      if (!opts.dryRun) {
        try {
          await removeDirAtomic(c.dir);
        } catch (e) {
          throw new MvmError("external", `cannot remove revision ${c.rev}: ${(e as Error).message}`);
        }
      }
      removed.push({ rev: c.rev, built_at: c.built_at, freed_bytes: u.freed, allocated_bytes: u.allocated });
    }
    return {
      template: name,
      dry_run: opts.dryRun,
      removed,
      kept,
      freed_bytes: removed.reduce((n, r) => n + r.freed_bytes, 0),
    };
  });
}
