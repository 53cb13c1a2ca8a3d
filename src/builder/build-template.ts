import { mkdirSync, promises as fs, rmSync } from "node:fs";
import { join } from "node:path";
import {
  CHECKSUMS_FILE,
  FC_BASE_FILE,
  INITRD_NAME,
  KERNEL_NAMES,
  REVISION_FILE,
  ROOTFS_NAME,
  SNAPSHOT_DIR,
  SNAPSHOT_FILES,
} from "../core/artifacts.js";
import { newChecksums } from "../core/checksums.js";
import type { BuildProgress } from "../core/build-events.js";
import { DigestCache } from "../store/digest-cache.js";
import { MvmError } from "../core/errors.js";
import type { TemplateRevision } from "../core/revision.js";
import { toJson } from "../core/schema.js";
import type { TemplateSpec } from "../core/spec.js";
import { tempSibling } from "../host/files.js";
import { exists, writeFileAtomic } from "../store/atomic.js";
import { sha256Files } from "../host/hash-pool.js";
import { readChecksums, writeChecksums } from "../store/checksums.js";
import type { TemplateStore } from "../store/templates.js";
import { explainMissing, resolveAttribute } from "./attribute.js";
import { type BuildDeps, defaultDeps } from "./deps.js";
import { readFlakeInputs } from "./flake-inputs.js";
import { resolveFlakeSource } from "./flake-source.js";
import { installNew, replaceInto } from "./install.js";
import { offlineInputOverrides } from "./offline-inputs.js";
import { onInterrupt } from "./interrupt.js";
import { flakeLockHash } from "./lock-hash.js";
import { BuildLog } from "./nix/log-file.js";
import { NixFailure, type NixContext, nixBuild, nixClosureBytes, storeHash } from "./nix/ops.js";
import { inspectOutput } from "./output-contract.js";
import { measureSizes, placeArtifacts, revisionRecord, writeMetadata } from "./revision-files.js";
import { hostSystem } from "./system.js";
import { updateFodHash } from "./update-hash.js";

// `template build` as a service: flake → nix build → revision directory → `current`. The command file
// only parses flags and renders; `build --snapshot` calls this first and then snapshots the
// revision it returns.

export interface BuildRequest {
  /** Make nix rebuild this template's output (`--rebuild`) and re-create its revision. */
  force?: boolean;
  /** Recompute the fixed-output hash in the flake first. */
  updateHash?: boolean;
  onProgress?: (p: BuildProgress) => void;
  deps?: Partial<BuildDeps>;
}

export interface BuildResult {
  template: string;
  rev: string;
  dir: string;
  /** The revision was already built: nothing copied, its snapshot (if any) kept. */
  cached: boolean;
  revision: TemplateRevision;
  attribute: string;
  outPath: string;
  logPath: string;
  warnings: string[];
}

/** MVM_OFFLINE=1 forces builds without binary caches, MVM_OFFLINE=0 forbids it; unset: decided per flake. */
function offlineOverride(): boolean | undefined {
  const v = process.env.MVM_OFFLINE?.trim();
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  return undefined;
}

const SETTINGS_FIELDS = ["flake_ref", "profile", "role", "vcpus", "mem_mib", "data_disk_mib"] as const;

function settingsDiffer(rev: TemplateRevision, spec: TemplateSpec): boolean {
  return SETTINGS_FIELDS.some((k) => rev[k] !== spec[k]);
}

/** The existing revision at `dir` when it is complete (its files present with their recorded sizes). */
async function completeRevision(
  store: TemplateStore,
  dir: string,
  rev: string,
): Promise<TemplateRevision | undefined> {
  const record = await store.loadRevisionAt(dir).catch(() => undefined);
  if (!record || record.revision_hash !== rev) return undefined;
  const p = record.artifact_paths;
  const want: Array<[string, number | undefined]> = [
    [p.vmlinux, p.sizes?.vmlinux_bytes],
    [p.rootfs, p.sizes?.rootfs_bytes],
  ];
  if (p.initrd) want.push([p.initrd, p.sizes?.initrd_bytes]);
  for (const [file, size] of want) {
    const st = await fs.stat(join(dir, file)).catch(() => undefined);
    if (!st?.isFile() || (size !== undefined && st.size !== size)) return undefined;
  }
  if (!(await exists(join(dir, "checksums.json")))) return undefined;
  return record;
}

export async function buildTemplate(
  store: TemplateStore,
  name: string,
  req: BuildRequest = {},
): Promise<BuildResult> {
  const deps: BuildDeps = { ...defaultDeps, ...req.deps };
  const warnings: string[] = [];
  const step = (message: string) => req.onProgress?.({ stage: "step", message });
  const warn = (message: string) => {
    warnings.push(message);
    req.onProgress?.({ stage: "warning", message });
  };
  await store.loadSpec(name); // "does not exist" before taking a lock
  const system = hostSystem();
  return store.withLock(name, async () => {
    const spec = await store.loadSpec(name); // as it is now that no `edit` can change it under us
    await store.sweep(name);
    const log = await BuildLog.open(store.paths.logs, name);
    let nixPid: number | undefined;
    // An interrupt stops nix too (a terminal's Ctrl-C reaches it anyway; SIGTERM does not).
    const stopNix = onInterrupt(() => {
      if (nixPid !== undefined) process.kill(nixPid, "SIGTERM");
      log.close();
    });
    try {
      log.note(
        `mvmctl template build ${name}${req.force ? " --force" : ""}${req.updateHash ? " --update-hash" : ""}`,
      );
      step(`Building template '${name}' (flake: ${spec.flake_ref}, profile: ${spec.profile})`);
      const source = await resolveFlakeSource(spec.flake_ref);
      for (const w of source.warnings) warn(w);
      const extra: string[] = [];
      const ctx: NixContext = {
        offline: false,
        log,
        onEvent: (event) => {
          // Our own --override-input makes nix say it will not write the lock file: expected, not news.
          if (
            event.kind === "message" &&
            /not writing modified lock file/.test(event.text) &&
            extra.length > 0
          )
            return;
          req.onProgress?.({ stage: "nix", event });
        },
        onSpawn: (pid) => {
          nixPid = pid;
        },
      };
      if (source.localDir) {
        const inputs = await readFlakeInputs(
          source.localDir,
          ctx,
          join(store.paths.root, "cache", "flake-inputs"),
        );
        ctx.offline = offlineOverride() ?? inputs.allLocal;
        const overrides = await offlineInputOverrides(inputs, store.paths, deps, ctx, step);
        for (const note of overrides.notes) step(note);
        extra.push(...overrides.args);
      } else ctx.offline = offlineOverride() ?? false;
      log.note(`offline: ${ctx.offline}`);

      const attribute = await resolveAttribute(
        source.ref,
        spec.profile,
        system,
        source.explicitAttr,
        ctx,
        extra,
      );
      const installable = `${source.ref}#${attribute}`;
      if (req.updateHash) {
        if (!source.localDir)
          throw new MvmError(
            "unsupported",
            `--update-hash needs a local flake directory, not ${spec.flake_ref}`,
          );
        step("Recomputing fixed-output derivation hashes");
        for (const change of await updateFodHash(source.localDir, installable, ctx, extra))
          step(`Updated ${change}`);
      }

      step(`Building: nix build ${installable}${req.force ? " --rebuild" : ""}`);
      const outPath = await buildOutput(
        installable,
        attribute,
        source.ref,
        system,
        ctx,
        extra,
        Boolean(req.force),
      );
      const rev = storeHash(outPath);
      log.note(`output: ${outPath} (revision ${rev})`);
      const lockHash = (source.localDir && (await flakeLockHash(join(source.localDir, "flake.lock")))) || rev;
      const finalDir = store.paths.revision(name, rev);
      const existing = (await exists(finalDir)) ? await completeRevision(store, finalDir, rev) : undefined;

      let revision: TemplateRevision;
      let cached = false;
      if (existing && !req.force) {
        cached = true;
        revision = existing;
        if (settingsDiffer(existing, spec) || existing.flake_lock_hash !== lockHash) {
          // Same artifacts, new settings (e.g. --mem): only the metadata is rewritten; the snapshot stays
          // and the run side compares its fingerprint with the new settings.
          revision = { ...existing, ...pickSettings(spec), flake_lock_hash: lockHash, spec };
          await writeMetadata(finalDir, revision);
          await refreshMetadataChecksums(finalDir, name, rev);
        } else if (await metadataChecksumsStale(finalDir)) {
          // A metadata rewrite (ours or a snapshot's) was interrupted before checksums.json followed.
          await refreshMetadataChecksums(finalDir, name, rev);
        }
      } else {
        revision = await assemble(name, spec, {
          digests: DigestCache.of(store.paths),
          rev,
          outPath,
          attribute,
          system,
          lockHash,
          finalDir,
          previous: existing,
          deps,
          ctx,
          step,
          warn,
        });
      }
      if ((await store.currentRevisionId(name).catch(() => undefined)) !== rev)
        await store.setCurrent(name, rev);
      log.note(cached ? "up to date" : `installed ${finalDir}`);
      return {
        template: name,
        rev,
        dir: finalDir,
        cached,
        revision,
        attribute,
        outPath,
        logPath: log.path,
        warnings,
      };
    } catch (e) {
      log.note(`failed: ${(e as Error).message}`);
      throw e;
    } finally {
      stopNix();
      log.close();
    }
  });
}

function pickSettings(spec: TemplateSpec) {
  return {
    flake_ref: spec.flake_ref,
    profile: spec.profile,
    role: spec.role,
    vcpus: spec.vcpus,
    mem_mib: spec.mem_mib,
    data_disk_mib: spec.data_disk_mib,
  };
}

/** Builds, with `--rebuild` under --force (falling back to a plain build when nothing is there to check). */
async function buildOutput(
  installable: string,
  attribute: string,
  flakeRef: string,
  system: string,
  ctx: NixContext,
  extra: string[],
  force: boolean,
): Promise<string> {
  try {
    try {
      return await nixBuild(installable, ctx, { rebuild: force, extra });
    } catch (e) {
      if (!(e instanceof NixFailure)) throw e;
      if (force && e.errors.some((m) => /not valid, so checking is not possible/.test(m)))
        return await nixBuild(installable, ctx, { extra });
      if (force && e.errors.some((m) => /may not be deterministic/.test(m)))
        throw new MvmError(
          "external",
          `--force rebuilt ${installable} and got different bytes: the flake is not reproducible`,
          {
            details: e.details,
            ...(e.hint ? { hint: e.hint } : {}),
          },
        );
      throw e;
    }
  } catch (e) {
    if (e instanceof NixFailure && e.errors.some((m) => /does not provide attribute/.test(m)))
      throw await explainMissing(flakeRef, attribute, system, ctx, extra);
    throw e;
  }
}

/** SHA-256 of those of `names` that exist in `dir`. */
async function hashFiles(dir: string, names: readonly string[]): Promise<Record<string, string>> {
  const present: string[] = [];
  for (const n of names) if (await exists(join(dir, n))) present.push(n);
  const digests = await sha256Files(present.map((n) => join(dir, n)));
  return Object.fromEntries(present.map((n, i) => [n, digests[i] as string]));
}

/**
 * Before different bytes replace a revision's files one by one (an image packed by a newer mvmctl, or a
 * directory left incomplete): its snapshot no longer applies and its checksums will not hold mid-way.
 * Dropping both first means a crash in between leaves a revision that is visibly incomplete (no
 * checksums.json: the next build repairs it) and never one that claims a snapshot it cannot restore.
 */
async function retireInPlace(dir: string, previous: TemplateRevision | undefined): Promise<void> {
  if (previous?.snapshot)
    await writeFileAtomic(join(dir, REVISION_FILE), toJson({ ...previous, snapshot: null }));
  await fs.rm(join(dir, CHECKSUMS_FILE), { force: true });
  await fs.rm(join(dir, SNAPSHOT_DIR), { recursive: true, force: true });
}

/** Checksums of the snapshot files in `dir`: as recorded when they are, else computed. */
async function snapshotSums(dir: string, recorded: Record<string, string>): Promise<Record<string, string>> {
  const present: string[] = [];
  for (const f of SNAPSHOT_FILES) if (await exists(join(dir, f))) present.push(f);
  const unrecorded = present.filter((f) => recorded[f] === undefined);
  const digests = await sha256Files(unrecorded.map((f) => join(dir, f)));
  const computed = Object.fromEntries(unrecorded.map((f, i) => [f, digests[i] as string]));
  return Object.fromEntries(present.map((f) => [f, recorded[f] ?? (computed[f] as string)]));
}

/** True when fc-base.json or revision.json no longer matches what checksums.json records for it. */
async function metadataChecksumsStale(dir: string): Promise<boolean> {
  const recorded = await readChecksums(dir).catch(() => undefined);
  if (!recorded) return true;
  const now = await hashFiles(dir, METADATA_FILES);
  return METADATA_FILES.some((f) => recorded.files[f] !== now[f]);
}

/** After a metadata-only rewrite: rehash fc-base.json and revision.json, keep every other entry. */
async function refreshMetadataChecksums(dir: string, name: string, rev: string): Promise<void> {
  const old = await readChecksums(dir).catch(() => undefined);
  if (!old) {
    await writeChecksums(dir, name, rev);
    return;
  }
  const files = { ...old.files, ...(await hashFiles(dir, METADATA_FILES)) };
  await writeFileAtomic(join(dir, CHECKSUMS_FILE), toJson(newChecksums(name, rev, files)));
}

interface AssembleArgs {
  rev: string;
  outPath: string;
  attribute: string;
  system: string;
  lockHash: string;
  finalDir: string;
  previous: TemplateRevision | undefined;
  deps: BuildDeps;
  ctx: NixContext;
  step: (m: string) => void;
  warn: (m: string) => void;
  /** Where the images' digests are remembered, so `up` and `push` need not hash them again. */
  digests: DigestCache;
}

const IMAGE_FILES = [...KERNEL_NAMES, INITRD_NAME, ROOTFS_NAME];
const METADATA_FILES = [FC_BASE_FILE, REVISION_FILE];

/** Stages the revision under a hidden temp name, then installs it (new) or replaces its files (same rev). */
async function assemble(name: string, spec: TemplateSpec, a: AssembleArgs): Promise<TemplateRevision> {
  const output = await inspectOutput(a.outPath);
  const staging = tempSibling(a.finalDir, "build");
  mkdirSync(staging, { recursive: true });
  const removeStaging = onInterrupt(() => rmSync(staging, { recursive: true, force: true }));
  try {
    a.step("Storing artifacts in the revision directory");
    const placed = await placeArtifacts(staging, output, a.deps.packRootfs, a.step);
    const closure = await nixClosureBytes(a.outPath, a.ctx).catch((e: Error) => {
      a.warn(`could not measure the closure size: ${e.message}`);
      return undefined;
    });
    const sizes = await measureSizes(staging, placed.kernelFile, placed.initrdFile, closure);
    const imageSums = await hashFiles(staging, IMAGE_FILES);
    // A snapshot of the same revision stays valid when the image files are byte-identical.
    let snapshot = a.previous?.snapshot ?? null;
    let keptSnapshotSums: Record<string, string> = {};
    let sameImage = false;
    if (a.previous) {
      const old = await readChecksums(a.finalDir).catch(() => undefined);
      sameImage = old !== undefined && IMAGE_FILES.every((f) => old.files[f] === imageSums[f]);
      if (sameImage && old) {
        keptSnapshotSums = await snapshotSums(a.finalDir, old.files);
      } else if (snapshot || (await exists(join(a.finalDir, SNAPSHOT_DIR)))) {
        a.warn("the rebuilt image differs from the one the snapshot was taken from: the snapshot is dropped");
        snapshot = null;
      }
    }
    const revision = revisionRecord({
      rev: a.rev,
      spec,
      flakeLockHash: a.lockHash,
      kernelFile: placed.kernelFile,
      initrdFile: placed.initrdFile,
      sizes,
      outPath: a.outPath,
      attribute: a.attribute,
      system: a.system,
      snapshot,
    });
    await writeMetadata(staging, revision);
    const metaSums = await hashFiles(staging, METADATA_FILES);
    await writeFileAtomic(
      join(staging, CHECKSUMS_FILE),
      toJson(newChecksums(name, a.rev, { ...imageSums, ...metaSums, ...keptSnapshotSums })),
    );
    if (a.previous || (await exists(a.finalDir))) {
      if (!sameImage) await retireInPlace(a.finalDir, a.previous);
      await replaceInto(staging, a.finalDir);
      if (!snapshot) await fs.rm(join(a.finalDir, SNAPSHOT_DIR), { recursive: true, force: true });
    } else await installNew(staging, a.finalDir);
    // Hashed above in a staging directory only this build writes, under the template's lock.
    await a.digests.rememberAsIs(
      Object.fromEntries(Object.entries(imageSums).map(([f, sha]) => [join(a.finalDir, f), sha])),
    );
    return revision;
  } catch (e) {
    await fs.rm(staging, { recursive: true, force: true });
    throw e;
  } finally {
    removeStaging();
  }
}
