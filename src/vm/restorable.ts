import { promises as fs } from "node:fs";
import { join } from "node:path";
import { SNAPSHOT_DIR } from "../core/artifacts.js";
import { fingerprintMismatches } from "../core/snapshot.js";
import { layoutFiles } from "../core/snapshot.js";
import type { HypervisorBackend, VmConfig } from "../hypervisor/backend.js";
import { backendModule } from "../hypervisor/index.js";
import { sha256File } from "../host/file-hash.js";
import { sha256Remembered } from "../store/checksums.js";
import type { DigestCache } from "../store/digest-cache.js";
import type { TemplateImage } from "./template-image.js";

// Whether a VM may restore the template's snapshot, checked before any VM runs; the one check both
// `up` (restore or cold boot) and `template build --snapshot` (reuse or retake) make. Everything here
// is cheap: the backend's snapshot files exist, their sizes match revision.json, the device-state
// file (small) matches its SHA-256 in checksums.json (hashed once, then remembered while the file is
// unchanged), and the recorded fingerprint matches the one the backend computes for this request;
// guest memory is never hashed (a damaged mem.bin shows when
// the restore fails, and the start then falls back to a cold boot).

export type NoRestore =
  /** The user asked for a cold boot. */
  | { kind: "asked"; reason: string }
  /** There is no snapshot, or it was taken for another backend, host or sizing. */
  | { kind: "incompatible"; reason: string }
  /** The snapshot's files are missing or do not match what was recorded. */
  | { kind: "damaged"; reason: string };

/** What the template's sizing was when the snapshot was taken, if `edit` changed it since. */
function sizingChange(img: TemplateImage): string | undefined {
  const snap = img.revision.snapshot;
  if (!snap) return undefined;
  const changes: string[] = [];
  if (snap.mem_mib !== img.spec.mem_mib) changes.push(`memory ${snap.mem_mib} → ${img.spec.mem_mib} MiB`);
  if (snap.vcpus !== img.spec.vcpus) changes.push(`vCPUs ${snap.vcpus} → ${img.spec.vcpus}`);
  if (changes.length === 0) return undefined;
  return `the template's sizing changed since its snapshot was taken (${changes.join(", ")}); 'mvmctl template build ${img.template} --snapshot' takes a new one`;
}

/**
 * Every file of the backend's snapshot layout is there, vmstate.bin and mem.bin have the sizes
 * revision.json records, and vmstate.bin matches its SHA-256 in checksums.json.
 */
async function snapshotDamage(
  img: TemplateImage,
  backend: HypervisorBackend,
  cache?: DigestCache,
): Promise<string | undefined> {
  const snap = img.revision.snapshot;
  if (!snap) return undefined;
  const layout = backendModule(backend.name).snapshotLayout;
  const dir = join(img.current.dir, SNAPSHOT_DIR);
  for (const file of layoutFiles(layout)) {
    const st = await fs.stat(join(dir, file)).catch(() => undefined);
    if (!st?.isFile()) return `the snapshot file ${SNAPSHOT_DIR}/${file} is missing`;
  }
  const sized: Array<[string, number]> = [
    [layout.vmstate, snap.vmstate_size_bytes],
    [layout.mem, snap.mem_size_bytes],
  ];
  for (const [file, size] of sized) {
    const st = await fs.stat(join(dir, file));
    if (st.size !== size)
      return `the snapshot is damaged: ${SNAPSHOT_DIR}/${file} holds ${st.size} bytes, revision.json says ${size}`;
  }
  const want = img.checksums[`${SNAPSHOT_DIR}/${layout.vmstate}`];
  // Hashed once; later starts trust the remembered digest while the file is provably unchanged.
  const path = join(dir, layout.vmstate);
  const sha256 = cache ? await sha256Remembered(path, cache) : await sha256File(path);
  if (want && sha256 !== want)
    return `the snapshot is damaged: ${SNAPSHOT_DIR}/${layout.vmstate} does not match its SHA-256 in checksums.json`;
  return undefined;
}

export interface RestoreRequest {
  /** The VM that would run: its images, sizing and drives (what the fingerprint covers). */
  config: VmConfig;
  /** The user asked for a cold boot. */
  cold?: boolean;
  /**
   * The caller chose the sizing (--cpus/--mem, or a snapshot build's own), so a difference from the
   * template's is reported field by field by the fingerprint rather than as an edit of the template.
   */
  sizedByCaller?: boolean;
  /** Remembered digests of unchanged revision files (vmstate.bin is then not hashed again). */
  digests?: DigestCache;
}

/** Why this VM cannot restore the template's snapshot, or undefined when it can. */
export async function checkRestorable(
  img: TemplateImage,
  backend: HypervisorBackend,
  req: RestoreRequest,
): Promise<NoRestore | undefined> {
  if (req.cold) return { kind: "asked", reason: "--cold was given" };
  const snap = img.revision.snapshot;
  const incompatible = (reason: string): NoRestore => ({ kind: "incompatible", reason });
  if (!snap) return incompatible(`template ${img.template} has no snapshot (build it with --snapshot)`);
  if (!(await backend.capabilities()).snapshots)
    return incompatible(`the ${backend.name} backend cannot restore snapshots`);
  if ((snap.backend ?? "firecracker") !== backend.name)
    return incompatible(
      `the snapshot was taken with ${snap.backend ?? "firecracker"}, this VM runs on ${backend.name}`,
    );
  if (!req.sizedByCaller) {
    const changed = sizingChange(img);
    if (changed) return incompatible(changed);
  }
  const damage = await snapshotDamage(img, backend, req.digests);
  if (damage) return { kind: "damaged", reason: damage };
  if (!snap.fingerprint) return incompatible("the snapshot has no fingerprint (taken by an older mvmctl)");
  const diff = fingerprintMismatches(snap.fingerprint, await backend.fingerprint(req.config));
  if (diff.length > 0) return incompatible(`the snapshot does not match: ${diff.join("; ")}`);
  return undefined;
}
