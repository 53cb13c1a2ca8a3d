import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import { MvmError } from "../../core/errors.js";
import type { SnapshotFingerprint } from "../../core/snapshot.js";
import { processMentions, signalPid, waitFor, whenGone } from "../../host/process.js";
import type { GuestNetwork } from "../../guest/channel.js";
import type { SnapshotFiles, SnapshotResult, VmHandle, VmState } from "../backend.js";
import { type KeeperLink, waitForKeeper } from "../keeper/link.js";
import type { FirecrackerApi } from "./api.js";
import { digHoles } from "../../host/files.js";
import { copySparse } from "./images.js";
import { FC_SNAPSHOT } from "./snapshot-layout.js";
import { stopForwarder } from "./port-forwarder.js";
import { deleteTap, type TapDevice } from "./tap.js";
import { FC_FILES, mustExist } from "./vmdir.js";

// One running Firecracker: its control over the API socket, its snapshot into a revision, its stop.

/** The guest agent's vsock port (guest protocol) and the guest's context id. */
export const GUEST_VSOCK_PORT = 52;
export const GUEST_CID = 3;
/** The one network interface a guest gets; its id is baked into snapshots. */
export const NET_IFACE_ID = "eth0";

export interface FirecrackerVmInit {
  name: string;
  dir: string;
  pid: number;
  api: FirecrackerApi;
  /** The VM's TAP and addresses; after a restore the guest must be told them (post-restore request). */
  tap: TapDevice | undefined;
  bootArgs: string;
  /** The fingerprint of the config it was started with; undefined when re-attached from another process. */
  fingerprint?: () => Promise<SnapshotFingerprint>;
  /** The keeper this process started (undefined when re-attached). */
  keeper?: KeeperLink;
  forwarderPid: number | null;
  keeperPid: number | null;
}

export class FirecrackerVm implements VmHandle {
  readonly backend = "firecracker" as const;
  readonly name: string;
  readonly dir: string;
  readonly pid: number;
  readonly tap: TapDevice | undefined;
  readonly guestChannel: string;
  readonly consoleLog: string;
  /** The guest channel is vsock: connect to `guestChannel` and send `CONNECT <port>\n`. */
  readonly guestVsockPort = GUEST_VSOCK_PORT;
  readonly exited: Promise<void>;
  private readonly api: FirecrackerApi;
  private readonly keeper: KeeperLink | undefined;
  private stopped = false;

  constructor(private readonly init: FirecrackerVmInit) {
    this.name = init.name;
    this.dir = init.dir;
    this.pid = init.pid;
    this.tap = init.tap;
    this.api = init.api;
    this.keeper = init.keeper;
    this.guestChannel = join(init.dir, FC_FILES.vsock);
    this.consoleLog = join(init.dir, FC_FILES.console);
    this.exited = this.keeper?.exited ?? whenGone(() => this.alive());
  }

  get keeperPid(): number | undefined {
    return this.keeper?.pid ?? this.init.keeperPid ?? undefined;
  }

  /** Whether the Firecracker process still exists. */
  processAlive(): boolean {
    return this.alive();
  }

  /** Hands the VM over: it keeps running after this mvmctl exits (`up -d`). */
  detach(): void {
    this.keeper?.detach();
  }

  private alive(): boolean {
    if (this.keeper?.watching) return this.keeper.running;
    // Re-attached from another process: the pid must still be *this* VM's Firecracker, not a recycled pid.
    return processMentions(this.pid, join(this.dir, FC_FILES.apiSocket));
  }

  /**
   * The address the guest must use. A restored guest still has the snapshot VM's address configured,
   * so the post-restore request carries this (guest/readiness.ts; the TAP's host end is the gateway).
   * The guest's only NIC is eth0, the same name as its Firecracker iface id.
   */
  guestNetwork(): (GuestNetwork & { mac: string }) | undefined {
    if (!this.tap) return undefined;
    return {
      iface: NET_IFACE_ID,
      address: `${this.tap.guestIp}/${this.tap.prefixLen}`,
      gateway: this.tap.hostIp,
      mac: this.tap.guestMac,
    };
  }

  async state(): Promise<VmState> {
    if (this.stopped || !this.alive()) return "stopped";
    try {
      const info = await this.api.describeInstance();
      return info.state === "Running" ? "running" : info.state === "Paused" ? "paused" : "starting";
    } catch (e) {
      if (!this.alive()) return "stopped";
      throw e;
    }
  }

  async pause(): Promise<void> {
    await this.api.pause();
  }

  async resume(): Promise<void> {
    await this.api.resume();
  }

  async snapshot(into: SnapshotFiles): Promise<SnapshotResult> {
    const fingerprint = this.init.fingerprint;
    if (!fingerprint) throw new MvmError("internal", "cannot snapshot a VM re-attached from another process");
    if ((await this.state()) === "running") await this.pause();
    await fs.mkdir(into.dir, { recursive: true, mode: 0o700 });
    const vmstate = resolve(into.dir, FC_SNAPSHOT.vmstate);
    const mem = resolve(into.dir, FC_SNAPSHOT.mem);
    const disk = resolve(into.dir, FC_SNAPSHOT.disk);
    await this.api.createSnapshot({ snapshot_type: "Full", snapshot_path: vmstate, mem_file_path: mem });
    // A full snapshot holds every page of guest RAM; pages the guest never touched are zeros. Punching
    // them out keeps an idle guest's snapshot small on disk (and in a registry). Optional: if
    // fallocate is missing or the filesystem cannot punch holes, the file is simply left dense.
    await digHoles(mem);
    // The VM is paused and Firecracker has flushed its block devices: the disk matches the memory.
    await copySparse(join(this.dir, FC_FILES.rootfs), disk);
    for (const p of [vmstate, mem, disk]) {
      await mustExist(p, "snapshot file Firecracker should have written");
      await fs.chmod(p, 0o600);
    }
    const [vs, ms] = await Promise.all([fs.stat(vmstate), fs.stat(mem)]);
    return {
      vmstateBytes: vs.size,
      memBytes: ms.size,
      memAllocatedBytes: ms.blocks * 512,
      bootArgs: this.init.bootArgs,
      fingerprint: await fingerprint(),
    };
  }

  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (!this.stopped) {
      const graceMs = opts.graceMs ?? 2_000;
      // Firecracker's only guest shutdown request is Ctrl+Alt+Del (x86): the guest's init stops its
      // services and syncs. Then SIGTERM, then SIGKILL: the process must be gone either way.
      if (graceMs > 0 && this.alive()) {
        await this.api.call("PUT", "/actions", { action_type: "SendCtrlAltDel" }).catch(() => {});
        await waitFor(() => !this.alive(), graceMs);
      }
      // Through the keeper while this mvmctl owns the VM (it also waits for the keeper to go).
      if (this.keeper?.watching) await this.keeper.killAndWait();
      else {
        if (this.alive()) await killAndWait(this.pid, Math.min(graceMs, 500), () => !this.alive());
        // A detached VM's keeper cleans up once Firecracker is gone; let it finish (then make sure).
        if (this.init.keeperPid) await waitForKeeper(this.init.keeperPid, this.dir);
      }
      this.stopped = true;
    }
    if (this.init.forwarderPid) stopForwarder(this.init.forwarderPid, this.dir);
    if (this.tap) await deleteTap(this.tap.name);
    for (const f of [FC_FILES.apiSocket, FC_FILES.vsock, FC_FILES.state])
      await fs.rm(join(this.dir, f), { force: true });
  }
}

/** SIGTERM, then SIGKILL after `graceMs`, then wait until the process is gone. */
async function killAndWait(pid: number, graceMs: number, gone: () => boolean): Promise<void> {
  if (graceMs > 0) {
    signalPid(pid, "SIGTERM");
    await waitFor(gone, graceMs);
  }
  if (!gone()) signalPid(pid, "SIGKILL");
  await waitFor(gone, 10_000);
}
