// Shared setup for the Firecracker wire-level tests: a `firecracker` executable that starts the fake
// API server (a real process, found through MVM_FIRECRACKER_BIN), boot images, and a reader for the
// fake's request log.

import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DataPaths } from "../../../src/store/paths.js";
import { templateFromImages } from "../../helpers/template.js";
import { FirecrackerBackend, type FirecrackerNetwork } from "../../../src/hypervisor/firecracker/backend.js";

export const FAKE_SCRIPT = resolve(import.meta.dirname, "fake-firecracker.js");

export interface Logged {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  status: number;
  fault?: string;
}

export interface Fixture {
  root: string;
  bin: string;
  log: string;
  kernel: string;
  rootfs: string;
  paths: DataPaths;
  backend(opts?: {
    env?: Record<string, string>;
    network?: FirecrackerNetwork;
    socketTimeoutMs?: number;
    probeTimeoutMs?: number;
  }): FirecrackerBackend;
  requests(): Logged[];
}

/** A temp dir with the fake binary, a kernel and a sparse rootfs image. */
export function fixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), "mvm-fc-"));
  const bin = join(root, "firecracker");
  // The wrapper takes node and the script from the environment: no path is spliced into shell text.
  writeFileSync(bin, '#!/bin/sh\nexec "$FAKE_FC_NODE" "$FAKE_FC_SCRIPT" "$@"\n');
  chmodSync(bin, 0o755);
  const kernel = join(root, "vmlinux");
  // An ELF header is all the fake (and the backend's format check) look at.
  writeFileSync(kernel, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(57)]));
  const rootfs = join(root, "rootfs.ext4");
  writeFileSync(rootfs, "rootfs superblock stand-in\n");
  // 16 MiB with a hole in the middle, like a freshly packed ext4 image.
  truncateSync(rootfs, 16 * MiB);
  const fd = openSync(rootfs, "r+");
  writeSync(fd, "tail\n", 16 * MiB - 5);
  closeSync(fd);
  const log = join(root, "requests.jsonl");
  const paths = new DataPaths(join(root, "data"));
  return {
    root,
    bin,
    log,
    kernel,
    rootfs,
    paths,
    backend(opts = {}) {
      return new FirecrackerBackend({
        network: opts.network ?? "none",
        // Generous: on a loaded 2-core CI machine starting two node processes can take seconds.
        socketTimeoutMs: opts.socketTimeoutMs ?? 30_000,
        ...(opts.probeTimeoutMs ? { probeTimeoutMs: opts.probeTimeoutMs } : {}),
        paths,
        env: {
          ...process.env,
          MVM_FIRECRACKER_BIN: bin,
          FAKE_FC_NODE: process.execPath,
          FAKE_FC_SCRIPT: FAKE_SCRIPT,
          FAKE_FC_LOG: log,
          ...opts.env,
        },
      });
    },
    requests() {
      let text = "";
      try {
        text = readFileSync(log, "utf8");
      } catch {
        return [];
      }
      return text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Logged);
    },
  };
}

/** Pids of live processes whose command line mentions `needle` (e.g. a VM's API socket path). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const st = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (st !== "Z" && cmd.includes(needle)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const MiB = 1024 * 1024;

/**
 * Alive and not a zombie. A killed VMM stays a zombie until its parent reaps it (asynchronously in
 * Node, or never where nothing reaps orphans), and a zombie runs nothing.
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Whether /dev/kvm can be opened for reading and writing (the fake is probed like Firecracker). */
export function kvmAccessible(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A template whose current revision is the fixture's kernel and rootfs (the fake boots anything). */
export async function templateOfFixture(fx: Fixture, paths: DataPaths, name: string): Promise<void> {
  await templateFromImages(paths, name, { kernel: fx.kernel, rootfs: fx.rootfs });
}
