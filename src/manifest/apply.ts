import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { MvmError } from "../core/errors.js";
import { newSpec, type TemplateSpec } from "../core/spec.js";
import { specTimestamp } from "../core/time.js";
import { writeFileAtomic } from "../store/atomic.js";
import { resolveFlakeRef } from "../store/flake-path.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { LoadedManifest } from "./locate.js";

export interface ApplyOutcome {
  spec: TemplateSpec;
  created: boolean;
  /** Spec fields the manifest changed (sizing, or flake/profile with force). */
  changed: string[];
  /** The mvm.toml the template was built from before, when the project has moved away from there. */
  movedFrom: string | undefined;
}

/** The file beside template.json that remembers which mvm.toml the template was built from. */
function sourceFile(paths: DataPaths, name: string): string {
  return join(paths.template(name), "manifest.json");
}

/** The mvm.toml a template was last built from, if it was built from one. */
export async function recordedManifest(paths: DataPaths, name: string): Promise<string | undefined> {
  try {
    const v = JSON.parse(await fs.readFile(sourceFile(paths, name), "utf8")) as { path?: unknown };
    return typeof v.path === "string" && v.path.length < 4096 ? v.path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the project a template was built from has moved here: its old manifest is gone, and the
 * template's flake is where this manifest's `flake` pointed from the old place. Moving (or re-cloning)
 * a project is not the name clash the drift rule guards against, so the template follows it.
 */
async function projectMoved(
  recorded: string | undefined,
  loaded: LoadedManifest,
  storedFlake: string,
): Promise<boolean> {
  if (recorded === undefined || recorded === loaded.file) return false;
  if ((await fs.lstat(recorded).catch(() => undefined)) !== undefined) return false;
  return resolveFlakeRef(loaded.manifest.flake, dirname(recorded)).ref === storedFlake;
}

/**
 * Creates or updates the template a manifest names. Sizing changes apply (a snapshot taken at other
 * sizes is then refused at start by its fingerprint); a different flake or profile would make the
 * template build something else, so it needs `force`.
 */
export async function applyManifest(
  store: TemplateStore,
  loaded: LoadedManifest,
  opts: { force: boolean },
): Promise<ApplyOutcome> {
  const m = loaded.manifest;
  const flakeRef = resolveFlakeRef(m.flake, loaded.dir).ref;
  return store.withLock(m.name, async () => {
    const existed = await store.exists(m.name);
    let spec: TemplateSpec;
    const changed: string[] = [];
    const recorded = await recordedManifest(store.paths, m.name);
    let movedFrom: string | undefined;
    if (!existed) {
      spec = newSpec({
        template_id: m.name,
        flake_ref: flakeRef,
        profile: m.profile,
        role: m.role,
        vcpus: m.vcpus,
        mem_mib: m.mem_mib,
        data_disk_mib: m.data_disk_mib,
      });
    } else {
      spec = await store.loadSpec(m.name);
      const drift: string[] = [];
      if (spec.flake_ref !== flakeRef) {
        if (await projectMoved(recorded, loaded, spec.flake_ref)) movedFrom = recorded;
        else drift.push(`flake ${spec.flake_ref} -> ${flakeRef}`);
      }
      if (spec.profile !== m.profile) drift.push(`profile ${spec.profile} -> ${m.profile}`);
      if (drift.length > 0 && !opts.force)
        throw new MvmError("exists", `template ${m.name} already exists with another ${drift.join(", ")}`, {
          hint: `Build with --force to point ${m.name} at this manifest's flake, or rename it in ${loaded.file}.`,
        });
      const next = {
        flake_ref: flakeRef,
        profile: m.profile,
        role: m.role,
        vcpus: m.vcpus,
        mem_mib: m.mem_mib,
        data_disk_mib: m.data_disk_mib,
      };
      for (const [k, v] of Object.entries(next))
        if (spec[k as keyof typeof next] !== v) {
          changed.push(k);
          (spec as unknown as Record<string, unknown>)[k] = v;
        }
      if (changed.length > 0) spec.updated_at = specTimestamp();
    }
    if (!existed || changed.length > 0) await store.writeSpec(spec);
    if (recorded !== loaded.file)
      await writeFileAtomic(sourceFile(store.paths, m.name), `${JSON.stringify({ path: loaded.file })}\n`);
    return { spec, created: !existed, changed, movedFrom };
  });
}
