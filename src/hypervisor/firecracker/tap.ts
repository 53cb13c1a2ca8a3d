// Host networking for Firecracker guests: one TAP device per VM, created and removed by us with
// iproute2 (argv only). Each TAP gets its own /30 out of 10.213.0.0/16 (the host end is .1, the guest
// .2), so guests never share a subnet and no bridge or iptables rule is needed to reach one from the
// host. Needs CAP_NET_ADMIN; every failure names the command and what `ip` said.

import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../../core/errors.js";
import { runProgram } from "../../host/process.js";
import { acquireLock } from "../../store/lock.js";
import { DataPaths } from "../../store/paths.js";

export const TAP_PREFIX = "mvmtap";
/** 10.213.0.0/16 split into /30s. */
const SLOTS = 16384;

export interface TapDevice {
  name: string;
  slot: number;
  hostIp: string;
  guestIp: string;
  prefixLen: 30;
  guestMac: string;
}

/** The addresses that go with a slot (pure, so restore can say what a guest will be told). */
export function tapForSlot(slot: number): TapDevice {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS)
    throw new MvmError("internal", `bad TAP slot ${slot}`);
  const base = slot * 4;
  const third = base >> 8;
  const fourth = base & 255;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return {
    name: `${TAP_PREFIX}${slot}`,
    slot,
    hostIp: `10.213.${third}.${fourth + 1}`,
    guestIp: `10.213.${third}.${fourth + 2}`,
    prefixLen: 30,
    // Locally administered, unicast (0x06), then the guest's address bytes.
    guestMac: `06:00:0a:d5:${hex(third)}:${hex(fourth + 2)}`,
  };
}

/** Linux interface names: 1–15 bytes, no slash, no whitespace (IFNAMSIZ - 1). */
export function tapNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) return `invalid TAP device name ${JSON.stringify(name)}`;
  return undefined;
}

async function ip(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const bin = env.MVM_IP_BIN || "ip";
  const r = await runProgram(bin, args, {
    timeoutMs: 10_000,
    missing: () =>
      new MvmError("external", `${bin} ${args.join(" ")} failed: ${bin} not found`, {
        hint: "Install iproute2 (apt-get install iproute2).",
      }),
  });
  if (r.code === 0 && !r.timedOut) return;
  const said = r.timedOut ? "timed out" : r.stderr.trim().split("\n")[0] || `exit status ${r.code}`;
  const hint = /not permitted|permission/i.test(said)
    ? "Creating TAP devices needs root or CAP_NET_ADMIN: run mvmctl as root, or give it the capability."
    : undefined;
  throw new MvmError("external", `${bin} ${args.join(" ")} failed: ${said}`, hint ? { hint } : {});
}

/**
 * Creates the TAP, gives the host end its address and brings it up; undoes itself on failure.
 * `owner` (the VM directory) is stored as the interface alias, so an orphaned TAP can be traced to
 * the VM it belonged to and removed (reapOrphanTaps).
 */
export async function createTap(tap: TapDevice, owner?: string): Promise<void> {
  const problem = tapNameProblem(tap.name);
  if (problem) throw new MvmError("internal", problem);
  await ip(["tuntap", "add", "dev", tap.name, "mode", "tap"]);
  try {
    if (owner && Buffer.byteLength(owner) <= 255) await ip(["link", "set", "dev", tap.name, "alias", owner]);
    await ip(["addr", "add", `${tap.hostIp}/${tap.prefixLen}`, "dev", tap.name]);
    await ip(["link", "set", "dev", tap.name, "up"]);
  } catch (e) {
    await deleteTap(tap.name).catch(() => {});
    throw e;
  }
}

/** Removes a TAP; a device that is already gone (or goes meanwhile: the keeper races us) is fine. */
export async function deleteTap(name: string): Promise<void> {
  if (tapNameProblem(name)) return;
  if (!(await tapExists(name))) return;
  try {
    await ip(["link", "del", "dev", name]);
  } catch (e) {
    if (await tapExists(name)) throw e;
  }
}

export async function tapExists(name: string): Promise<boolean> {
  try {
    await fs.access(join("/sys/class/net", name));
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the lowest free slot and creates its TAP. The choice and the creation happen under one lock so
 * two VMs starting at once never pick the same device (`ip tuntap add` silently reuses an existing one).
 */
export async function allocateTap(
  paths: DataPaths = new DataPaths(),
  owner?: string,
  /** Runs inside the lock once the device exists: record it where the reaper will look. */
  onCreated?: (tap: TapDevice) => Promise<void>,
): Promise<TapDevice> {
  const lock = await tapLock(paths);
  try {
    const used = new Set<number>();
    for (const n of await fs.readdir("/sys/class/net").catch(() => [] as string[])) {
      const m = new RegExp(`^${TAP_PREFIX}(\\d+)$`).exec(n);
      if (m) used.add(Number(m[1]));
    }
    for (let slot = 0; slot < SLOTS; slot++) {
      if (used.has(slot)) continue;
      const tap = tapForSlot(slot);
      await createTap(tap, owner);
      if (onCreated) {
        try {
          await onCreated(tap);
        } catch (e) {
          await deleteTap(tap.name).catch(() => {});
          throw e;
        }
      }
      return tap;
    }
    throw new MvmError("external", `all ${SLOTS} Firecracker TAP slots are in use`);
  } finally {
    await lock.release();
  }
}

function tapLock(paths: DataPaths) {
  return acquireLock(join(paths.locks, "firecracker-tap.lock"), { what: "TAP allocation" });
}

/** The owner recorded by createTap, or undefined. */
export async function tapOwner(name: string): Promise<string | undefined> {
  try {
    const alias = (await fs.readFile(join("/sys/class/net", name, "ifalias"), "utf8")).trim();
    return alias || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes our TAP devices whose owner is gone (a VM whose mvmctl was killed between creating the TAP
 * and recording it, or whose process died without `down`). Devices without an owner alias are left
 * alone. Runs under the allocation lock, so a VM being started right now is never mistaken for one.
 */
export async function reapOrphanTaps(
  ownerAlive: (owner: string) => Promise<boolean>,
  paths: DataPaths = new DataPaths(),
): Promise<string[]> {
  const lock = await tapLock(paths);
  const removed: string[] = [];
  try {
    for (const n of await fs.readdir("/sys/class/net").catch(() => [] as string[])) {
      if (!new RegExp(`^${TAP_PREFIX}\\d+$`).test(n)) continue;
      const owner = await tapOwner(n);
      if (!owner || (await ownerAlive(owner))) continue;
      await deleteTap(n);
      removed.push(n);
    }
  } finally {
    await lock.release();
  }
  return removed;
}
