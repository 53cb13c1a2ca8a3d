import { promises as fs } from "node:fs";
import { join } from "node:path";
import { sweepTemps } from "../store/atomic.js";
import { withLock } from "../store/lock.js";
import type { DataPaths } from "../store/paths.js";
import { buildKitFrom, type KitBuildOptions, type KitResult, readKitInputs } from "./build.js";
import { type KitManifest, parseManifest } from "./manifest.js";

export type { KitBuildOptions, KitResult } from "./build.js";
export type { KitManifest } from "./manifest.js";
export { guestSourceDir, nixLibraryDir } from "./library.js";

/** The kit `<data>/kit/current` points at, if it is complete. */
export async function currentKit(
  paths: DataPaths,
): Promise<{ dir: string; hash: string; manifest: KitManifest } | undefined> {
  let id: string;
  try {
    id = await fs.readlink(join(paths.kit, "current"));
  } catch {
    return undefined;
  }
  const dir = join(paths.kit, id);
  let manifest: KitManifest | undefined;
  try {
    manifest = parseManifest(await fs.readFile(join(dir, "kit.json"), "utf8"));
  } catch {
    return undefined;
  }
  if (!manifest) return undefined;
  for (const [name, f] of Object.entries(manifest.files)) {
    try {
      if ((await fs.stat(join(dir, name))).size !== f.size) return undefined;
    } catch {
      return undefined;
    }
  }
  return { dir, hash: id, manifest };
}

function lockPath(paths: DataPaths): string {
  return join(paths.locks, "kit.lock");
}

/** Builds the kit from this host's packages, even when an identical one exists. */
export async function buildKit(paths: DataPaths, opts: KitBuildOptions = {}): Promise<KitResult> {
  const progress = opts.onProgress ?? (() => {});
  return withLock(lockPath(paths), { what: "the guest kit", timeoutMs: 300_000 }, async () => {
    await sweepTemps(paths.kit);
    progress("reading host packages");
    const inputs = await readKitInputs(opts);
    return buildKitFrom(paths, inputs, progress);
  });
}

/**
 * The current kit when it was built from this host's present packages and agent sources;
 * otherwise builds it. Safe to call from several processes at once: one builds, the others
 * wait on the lock and then reuse its result.
 */
export async function ensureKit(paths: DataPaths, opts: KitBuildOptions = {}): Promise<KitResult> {
  const inputs = await readKitInputs(opts);
  const reuse = async () => {
    const cur = await currentKit(paths);
    return cur && cur.manifest.inputs === inputs.fingerprint
      ? { dir: cur.dir, hash: cur.hash, created: false }
      : undefined;
  };
  const fast = await reuse();
  if (fast) return fast;
  return withLock(lockPath(paths), { what: "the guest kit", timeoutMs: 300_000 }, async () => {
    const again = await reuse();
    if (again) return again;
    await sweepTemps(paths.kit);
    return buildKitFrom(paths, inputs, opts.onProgress ?? (() => {}));
  });
}
