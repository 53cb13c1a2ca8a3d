import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { identProblem } from "../core/names.js";
import { removeDirAtomic, writeFileAtomic } from "../store/atomic.js";
import type { DataPaths } from "../store/paths.js";
import type { BackendName } from "../hypervisor/backend.js";
import { isBackendName } from "../hypervisor/index.js";

// One running VM = one directory <data>/vms/<name>/ holding the hypervisor's files and vm.json, the
// record every other command reads (ls, down, logs; `template prune` reads template + revision to keep
// revisions in use). The directory is claimed with mkdir, so two `up --name x` cannot both win.

export const VM_FILE = "vm.json";
export const VM_SCHEMA_VERSION = 1;

export interface VmPort {
  host: number;
  guest: number;
  host_address: string;
}

export interface VmRecord {
  schema_version: number;
  name: string;
  template: string;
  revision: string;
  backend: BackendName;
  /** How it started: restored from the template's snapshot, or booted. */
  mode: "restore" | "cold";
  /** Why a snapshot was not used (set when mode is cold). */
  cold_reason?: string;
  pid: number;
  keeper_pid?: number;
  ports: VmPort[];
  vcpus: number;
  mem_mib: number;
  created_at: string;
  ready_ms?: number;
  detached: boolean;
  /** Host side of the guest channel, and the console log. */
  guest_channel: string;
  /** Set when the guest channel is a vsock socket: the agent's port (send `CONNECT <port>` first). */
  guest_vsock_port?: number;
  console_log: string;
}

export function vmNameProblem(name: string): string | undefined {
  return identProblem(name);
}

/** Claims <data>/vms/<name> for a new VM; fails if a VM of that name exists. */
export async function claimVmDir(paths: DataPaths, name: string): Promise<string> {
  const dir = paths.vm(name);
  await fs.mkdir(paths.vms, { recursive: true });
  try {
    await fs.mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new MvmError("exists", `a VM named ${name} already exists`, {
        hint: `Stop it with 'mvmctl down ${name}', or pick another --name.`,
      });
    throw e;
  }
  return dir;
}

export async function writeVmRecord(dir: string, rec: VmRecord): Promise<void> {
  await writeFileAtomic(join(dir, VM_FILE), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
}

export async function readVmRecord(dir: string): Promise<VmRecord | undefined> {
  let v: Partial<VmRecord>;
  try {
    v = JSON.parse(await fs.readFile(join(dir, VM_FILE), "utf8")) as Partial<VmRecord>;
  } catch {
    return undefined;
  }
  if (
    typeof v.name !== "string" ||
    typeof v.template !== "string" ||
    typeof v.revision !== "string" ||
    !isBackendName(v.backend) ||
    !Number.isSafeInteger(v.pid) ||
    (v.guest_vsock_port !== undefined &&
      !(Number.isInteger(v.guest_vsock_port) && v.guest_vsock_port > 0 && v.guest_vsock_port < 2 ** 32))
  )
    return undefined;
  return v as VmRecord;
}

/** Names of VM directories (hidden ones are temporary VMs of `build --snapshot`). */
export async function listVmNames(paths: DataPaths, includeHidden = false): Promise<string[]> {
  const entries = await fs.readdir(paths.vms, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && (includeHidden || !e.name.startsWith(".")))
    .map((e) => e.name)
    .sort();
}

export async function removeVmDir(dir: string): Promise<void> {
  await removeDirAtomic(dir);
}
