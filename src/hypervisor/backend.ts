// One interface for every hypervisor. A backend is one folder (qemu/, firecracker/) whose module
// (`BackendModule`, its module.ts) is listed once in index.ts; commands and use cases only talk to
// these interfaces, never to a backend's own classes.

import type { DoctorCheck } from "../core/doctor.js";
import type { SnapshotFingerprint, SnapshotLayout } from "../core/snapshot.js";
import type { GuestEndpoint } from "../guest/endpoint.js";
import type { DataPaths } from "../store/paths.js";
import type { Keeper } from "./keeper/kept.js";

/** A backend's name: that of one of the modules hypervisor/index.ts lists (checked by isBackendName). */
export type BackendName = string;

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

/** Optional drives the guest contract knows: config /dev/vdb, secrets /dev/vdc, data /dev/vdd. */
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
  /**
   * Who owns the hypervisor process: by default a keeper process of its own; the daemon keeps its
   * VMs itself (keeper/kept.ts). A backend whose hypervisor can only print its console on stdout
   * keeps using a keeper process.
   */
  keeper?: Keeper;
}

/** A revision's snapshot/ directory (its file names: the backend module's `snapshotLayout`). */
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
  /** What a restore must match: the backend's `fingerprint` of the config the VM was started with. */
  fingerprint: SnapshotFingerprint;
}

export type VmState = "starting" | "running" | "paused" | "stopped";

/** A running (or paused) VM process owned by a backend. */
export interface VmHandle extends GuestEndpoint {
  readonly name: string;
  readonly backend: BackendName;
  readonly pid: number;
  /** The keeper process that owns the hypervisor (undefined when re-attached without a record of it). */
  readonly keeperPid: number | undefined;
  readonly dir: string;
  readonly consoleLog: string;
  /** Resolves once the hypervisor process has ended, however it ended. */
  readonly exited: Promise<void>;
  /** Lets the VM outlive this process (`up -d`); before that, a crash of mvmctl stops it. */
  detach(): void;
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
  attach(name: string, dir: string): Promise<VmHandle | undefined>;
}

/** How a backend is created, described and checked: one record per hypervisor, listed in index.ts. */
export interface BackendModule {
  readonly name: BackendName;
  /** `--hypervisor auto` tries available backends from the highest rank down. */
  readonly autoRank: number;
  /** One line for help texts and `doctor`. */
  readonly summary: string;
  /** The files a snapshot of this backend holds. */
  readonly snapshotLayout: SnapshotLayout;
  create(paths: DataPaths, env?: NodeJS.ProcessEnv): Promise<HypervisorBackend>;
  /**
   * Why this backend cannot run here, when that is known without loading it (a missing binary), so
   * `--hypervisor auto` does not pay for loading a backend that would only say it is unavailable.
   */
  unavailableCheap?(env?: NodeJS.ProcessEnv): string | undefined;
  /**
   * Removes host resources (TAP devices) left by this backend's VMs that are gone (an mvmctl killed
   * before it cleaned up); returns their names. Cheap when there are none.
   */
  reapLeftovers(paths: DataPaths): Promise<string[]>;
  /** What `mvmctl doctor` reports about this backend on this host. */
  doctor(paths: DataPaths, opts: DoctorOptions): Promise<DoctorCheck[]>;
}

export interface DoctorOptions {
  /** False when the data dir cannot be used: checks that cache results there are skipped. */
  dataDirUsable: boolean;
}
