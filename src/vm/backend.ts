// One interface for every hypervisor. A backend is one file (qemu.ts, firecracker.ts) implementing it;
// commands and services only talk to this interface. Adding a hypervisor means adding one file and one
// line in backends.ts.

import type { SnapshotFingerprint } from "../core/snapshot.js";
import type { GuestNetwork } from "./guest-channel.js";

export type BackendName = "qemu" | "firecracker";

export interface BackendCapabilities {
  snapshots: boolean;
  /** Restore maps saved memory lazily instead of reading it all before resuming. */
  lazyMemoryRestore: boolean;
  portForwarding: boolean;
  kvm: boolean;
}

/** The images a VM boots from: a template revision's artifacts (never written by a VM). */
export interface BootImages {
  kernel: string;
  initrd?: string;
  rootfs: string;
}

export interface PortForward {
  host: number;
  guest: number;
  /** Host address to bind; loopback by default. */
  hostAddress?: string;
}

/** Optional drives the guest contract knows (spec §8.3): config /dev/vdb, secrets /dev/vdc, data /dev/vdd. */
export interface ExtraDrives {
  config?: string;
  secrets?: string;
  data?: string;
}

export interface VmConfig {
  name: string;
  /** Per-VM working directory: overlays, sockets, console log, pid file live here. */
  dir: string;
  images: BootImages;
  vcpus: number;
  memMib: number;
  /** Extra kernel command-line words (the backend adds console/root arguments of its own). */
  bootArgs?: string;
  ports: PortForward[];
  drives?: ExtraDrives;
  /** Keep guest memory where `VmHandle.snapshot` can save it (QEMU: RAM in a shared file). */
  snapshotable?: boolean;
  /** SHA-256 of the images when already known (a revision's checksums.json), so nothing is re-hashed. */
  digests?: { kernel?: string; initrd?: string; rootfs?: string };
  /** Called as each phase of a start ends (VMM spawned, control socket ready, memory loaded, resumed). */
  mark?: (phase: string) => void;
}

/** Snapshot files inside a revision's snapshot/ directory (names from core/artifacts.ts). */
export interface SnapshotFiles {
  dir: string;
  /** When saving: the revision's rootfs, so a saved disk overlay can name it by a relative path. */
  rootfs?: string;
}

export interface SnapshotResult {
  vmstateBytes: number;
  memBytes: number;
  memAllocatedBytes: number;
  bootArgs: string;
  fingerprint: SnapshotFingerprint;
}

export type VmState = "starting" | "running" | "paused" | "stopped";

/** A running (or paused) VM process owned by a backend. */
export interface VmHandle {
  readonly name: string;
  readonly backend: BackendName;
  readonly pid: number;
  readonly dir: string;
  /** Path of the host side of the guest channel (a unix socket). */
  readonly guestChannel: string;
  readonly consoleLog: string;
  /** Set when the guest channel is a Firecracker vsock UDS (send `CONNECT <port>` first). */
  readonly guestVsockPort?: number;
  /** Whether the hypervisor process still exists. */
  processAlive?(): boolean;
  /**
   * The address a restored guest must switch to (it still has the snapshot VM's), sent in the
   * post-restore request; undefined when the backend gives each VM no address of its own.
   */
  guestNetwork?(): GuestNetwork | undefined;
  /** Lets the VM outlive this process (`up -d`); before that, a crash of mvmctl stops it. */
  detach?(): void;
  state(): Promise<VmState>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Saves memory, device state and the disk state that goes with them into `into.dir` (files 0600). */
  snapshot(into: SnapshotFiles): Promise<SnapshotResult>;
  /** Stops the VM and removes its process; idempotent. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

export interface HypervisorBackend {
  readonly name: BackendName;
  /** The hypervisor's version string, recorded in snapshot fingerprints. */
  version(): Promise<string>;
  capabilities(): Promise<BackendCapabilities>;
  /** Whether it can run on this host at all, and why not. */
  available(): Promise<{ ok: boolean; reason?: string }>;
  /** The fingerprint a snapshot taken now with this config would have; compared before restoring. */
  fingerprint(cfg: VmConfig): Promise<SnapshotFingerprint>;
  boot(cfg: VmConfig): Promise<VmHandle>;
  restore(cfg: VmConfig, from: SnapshotFiles): Promise<VmHandle>;
  /** Re-opens a VM another mvmctl process started in `dir` (for ls/down/logs); undefined if none. */
  attach?(name: string, dir: string): Promise<VmHandle | undefined>;
}
