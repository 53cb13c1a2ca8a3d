import { type Reader, ShapeError, U32, U64, U8 } from "./validate.js";

/**
 * Everything a snapshot must match to be restored. Recorded at snapshot time and compared field by
 * field before a restore (the original recorded vcpus/mem/boot args and never checked them).
 */
export type SnapshotFingerprint = Record<string, string | number | boolean | null>;

/** The original mvm's SnapshotInfo plus our fingerprint and allocated size. */
export interface SnapshotInfo {
  created_at: string;
  vmstate_size_bytes: number;
  mem_size_bytes: number;
  boot_args: string;
  vcpus: number;
  mem_mib: number;
  mem_allocated_bytes?: number;
  backend?: string;
  fingerprint?: SnapshotFingerprint;
}

export function parseSnapshotInfo(r: Reader): SnapshotInfo {
  const info: SnapshotInfo = {
    created_at: r.string("created_at", { max: 64 }),
    vmstate_size_bytes: r.int("vmstate_size_bytes", 0, U64),
    mem_size_bytes: r.int("mem_size_bytes", 0, U64),
    boot_args: r.string("boot_args", { max: 4096 }),
    vcpus: r.int("vcpus", 0, U8),
    mem_mib: r.int("mem_mib", 0, U32),
  };
  const alloc = r.optInt("mem_allocated_bytes", 0, U64);
  if (alloc !== undefined) info.mem_allocated_bytes = alloc;
  const backend = r.optString("backend", { pattern: /^[a-z0-9-]{1,32}$/ });
  if (backend !== undefined) info.backend = backend;
  const fp = r.optObj("fingerprint");
  if (fp) {
    const out: SnapshotFingerprint = {};
    for (const k of fp.keys()) {
      if (!/^[a-z0-9_]{1,64}$/.test(k))
        throw new ShapeError("snapshot.fingerprint", `bad key ${JSON.stringify(k)}`);
      const v = fp.raw(k);
      if (typeof v === "string") out[k] = fp.string(k, { max: 4096 });
      else if (typeof v === "number" || typeof v === "boolean" || v === null) out[k] = v;
      else out[k] = fp.string(k); // throws a ShapeError naming the field
    }
    info.fingerprint = out;
  }
  return info;
}

/** Names the fields where two fingerprints differ; empty means compatible. */
export function fingerprintMismatches(recorded: SnapshotFingerprint, current: SnapshotFingerprint): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(recorded), ...Object.keys(current)]);
  for (const k of [...keys].sort()) {
    if (recorded[k] !== current[k])
      out.push(
        `${k}: snapshot has ${JSON.stringify(recorded[k] ?? null)}, now ${JSON.stringify(current[k] ?? null)}`,
      );
  }
  return out;
}
