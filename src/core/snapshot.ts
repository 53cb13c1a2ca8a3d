import { type Reader, ShapeError, U32, U64, U8 } from "./validate.js";

/**
 * Everything a snapshot must match to be restored: computed by the backend for a VM config, recorded
 * at snapshot time and compared field by field before a restore (the original mvm recorded vCPUs,
 * memory and boot arguments and never checked them).
 */
export type SnapshotFingerprint = {
  backend: string;
  backend_version: string;
  /** The machine model the device state belongs to. */
  machine: string;
  /** CPU model the guest saw (a restore on another CPU may fault). */
  cpu_model: string;
  vcpus: number;
  mem_mib: number;
  kernel_sha256: string;
  initrd_sha256: string | null;
  rootfs_sha256: string;
  /** The template's part of the kernel command line (host tuning and per-VM words excluded). */
  boot_args: string;
  /** Drive ids in guest order. */
  drives: string;
  /** QEMU: "kvm" or "tcg". */
  accel?: string;
  /** QEMU: the guest agent's port. */
  guest_channel?: string;
  /** Firecracker: "tap" or "none". */
  network?: string;
};

/** A fingerprint as read back from revision.json: any fields a (possibly older) mvmctl recorded. */
export type RecordedFingerprint = Record<string, string | number | boolean | null>;

/** The disk-state files a snapshot may hold, one per disk format (a closed set: names come from registries). */
export const SNAPSHOT_DISKS = ["disk.qcow2", "disk.ext4"] as const;
export type SnapshotDiskName = (typeof SNAPSHOT_DISKS)[number];

/** The files of one backend's snapshot, inside a revision's snapshot/ directory. */
export interface SnapshotLayout {
  /** Device state (a QEMU migration stream, a Firecracker vmstate). */
  vmstate: "vmstate.bin";
  /** Guest memory, sparse. */
  mem: "mem.bin";
  /** The VM's disk at the moment of the snapshot. */
  disk: SnapshotDiskName;
}

export function snapshotLayout(disk: SnapshotDiskName): SnapshotLayout {
  return { vmstate: "vmstate.bin", mem: "mem.bin", disk };
}

/** Every file of a layout. */
export function layoutFiles(layout: SnapshotLayout): string[] {
  return [layout.vmstate, layout.mem, layout.disk];
}

/** SnapshotInfo as the original mvm recorded it, plus our fingerprint, backend and allocated size. */
export interface SnapshotInfo {
  created_at: string;
  vmstate_size_bytes: number;
  mem_size_bytes: number;
  boot_args: string;
  vcpus: number;
  mem_mib: number;
  mem_allocated_bytes?: number;
  backend?: string;
  fingerprint?: RecordedFingerprint;
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
    const out: RecordedFingerprint = {};
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
export function fingerprintMismatches(recorded: RecordedFingerprint, now: RecordedFingerprint): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(recorded), ...Object.keys(now)]);
  for (const k of [...keys].sort()) {
    if (recorded[k] !== now[k])
      out.push(
        `${k}: snapshot has ${JSON.stringify(recorded[k] ?? null)}, now ${JSON.stringify(now[k] ?? null)}`,
      );
  }
  return out;
}
