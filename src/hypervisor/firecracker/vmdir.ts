// A Firecracker VM directory: the names of its files, and the record (firecracker.json) of the process
// and TAP it holds, which lets another mvmctl (`ls`, `down`) find, check and stop them.

import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../../core/errors.js";
import { processMentions } from "../../host/process.js";
import { DataPaths } from "../../store/paths.js";
import { reapOrphanTaps, TAP_PREFIX } from "./tap.js";

/** File names inside a VM directory. The relative ones are baked into snapshots: never rename them. */
export const FC_FILES = {
  apiSocket: "firecracker.sock",
  vsock: "v.sock",
  rootfs: "rootfs.ext4",
  console: "console.log",
  log: "firecracker.log",
  state: "firecracker.json",
  forwarderLog: "port-forwarder.log",
} as const;

/** What a VM directory records about its Firecracker process, so another mvmctl can stop it. */
export interface VmRecord {
  /** null between TAP allocation and spawn. */
  pid: number | null;
  tap: string | null;
  tap_slot: number | null;
  /** The port forwarder process, when the VM has -p ports. */
  forwarder_pid?: number | null;
  /** The keeper that owns the Firecracker process (it cleans up when the VM ends unwatched). */
  keeper_pid?: number | null;
  started_at: string;
}

/**
 * Whether the VM directory still has a live Firecracker of ours: its record names a running process
 * whose command line is this directory's API socket (or a start younger than a minute, not yet spawned).
 */
export async function firecrackerVmAlive(dir: string): Promise<boolean> {
  const rec = await readRecord(dir);
  if (!rec) return false;
  if (rec.pid === null) return Date.now() - Date.parse(rec.started_at) < 60_000;
  return processMentions(rec.pid, join(dir, FC_FILES.apiSocket));
}

/** A VM directory's firecracker.json, checked field by field; undefined when absent or not ours. */
export async function readRecord(dir: string): Promise<VmRecord | undefined> {
  let v: unknown;
  try {
    v = JSON.parse(await fs.readFile(join(dir, FC_FILES.state), "utf8"));
  } catch {
    return undefined;
  }
  if (!v || typeof v !== "object") return undefined;
  const r = v as Record<string, unknown>;
  const pidOk = (p: unknown) =>
    p === null || p === undefined || (Number.isSafeInteger(p) && (p as number) > 0);
  const slotOk =
    r.tap_slot === null ||
    (Number.isInteger(r.tap_slot) && (r.tap_slot as number) >= 0 && (r.tap_slot as number) < 16384);
  if (
    !pidOk(r.pid) ||
    !pidOk(r.forwarder_pid) ||
    !pidOk(r.keeper_pid) ||
    !slotOk ||
    typeof r.started_at !== "string"
  )
    return undefined;
  return {
    pid: (r.pid as number | null | undefined) ?? null,
    tap: typeof r.tap === "string" ? r.tap : null,
    tap_slot: r.tap_slot as number | null,
    forwarder_pid: (r.forwarder_pid as number | null | undefined) ?? null,
    keeper_pid: (r.keeper_pid as number | null | undefined) ?? null,
    started_at: r.started_at,
  };
}

/**
 * Removes TAP devices left by Firecracker VMs that are gone (for `mvmctl down --all` / doctor). A
 * no-op, without even taking the allocation lock, when the host has none of our TAPs (no TAP support,
 * no /sys, or simply no Firecracker VM ever ran here).
 */
export async function reapFirecrackerTaps(paths: DataPaths = new DataPaths()): Promise<string[]> {
  const names = await fs.readdir("/sys/class/net").catch(() => [] as string[]);
  if (!names.some((n) => n.startsWith(TAP_PREFIX))) return [];
  return reapOrphanTaps(firecrackerVmAlive, paths);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function mustExist(p: string, what: string): Promise<void> {
  try {
    await fs.stat(p);
  } catch {
    throw new MvmError("not_found", `${what} missing: ${p}`);
  }
}
