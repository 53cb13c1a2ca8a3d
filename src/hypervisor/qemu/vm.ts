import { promises as fs } from "node:fs";
import { join, relative } from "node:path";
import { MvmError } from "../../core/errors.js";
import type { SnapshotFingerprint, SnapshotLayout } from "../../core/snapshot.js";
import { processArgv, pidAlive, runProgram, signalPid, sleep, whenGone } from "../../host/process.js";
import { requireTool } from "../../host/tools.js";
import type { GuestNetwork } from "../../guest/channel.js";
import type { SnapshotFiles, SnapshotResult, VmHandle, VmState } from "../backend.js";
import type { KeptProcess } from "../keeper/kept.js";
import { QEMU_FILES } from "./args.js";
import { QmpClient } from "./qmp.js";
import { digHoles, fsyncFile, moveFile } from "../../host/files.js";

// One running QEMU: its control over QMP, its snapshot into a revision, its stop.

/** A QEMU of ours is alive at `pid` (not a recycled pid running something else). */
export function qemuAlive(pid: number, name: string): boolean {
  return pidAlive(pid) && processArgv(pid).includes(`mvm-${name}`);
}

/** Runs a helper program (qemu-img, fallocate, cp) and fails with its last words. */
export async function runHelper(prog: string, args: string[], cwd?: string): Promise<void> {
  const r = await runProgram(prog, args, {
    ...(cwd ? { cwd } : {}),
    timeoutMs: 600_000,
    missing: () => new MvmError("external", `${prog} not found`, { hint: installHint(prog) }),
  });
  if (r.code !== 0 || r.timedOut)
    throw new MvmError(
      "external",
      `${prog} ${args[0] ?? ""} failed: ${(r.timedOut ? "timed out" : r.stderr || `exit status ${r.code}`).trim().split("\n").pop()}`,
    );
}

function installHint(prog: string): string {
  if (prog.includes("qemu-img")) return "Install it with: apt-get install qemu-utils";
  if (prog.includes("qemu")) return "Install it with: apt-get install qemu-system-x86";
  return "Install it with: apt-get install coreutils util-linux";
}

export interface QemuVmInit {
  name: string;
  dir: string;
  pid: number;
  /** The keeper of the QEMU this process started (undefined when re-attached from another process). */
  keeper?: KeptProcess;
  /** The keeper's pid as recorded, for a re-attached VM. */
  keeperPid?: number;
  qmp?: QmpClient;
  snapshotable: boolean;
  /** The kernel command line this VM booted with ("" when attached from another process). */
  bootArgs: string;
  /** The fingerprint of the config it was started with (undefined when attached). */
  fingerprint?: SnapshotFingerprint;
  layout: SnapshotLayout;
}

export class QemuVm implements VmHandle {
  readonly backend = "qemu" as const;
  readonly name: string;
  readonly dir: string;
  readonly pid: number;
  readonly guestChannel: string;
  readonly consoleLog: string;
  readonly qemuLog: string;
  readonly exited: Promise<void>;
  private readonly keeper: KeptProcess | undefined;
  private qmp: QmpClient | undefined;

  constructor(private readonly init: QemuVmInit) {
    this.name = init.name;
    this.dir = init.dir;
    this.pid = init.pid;
    this.keeper = init.keeper;
    this.qmp = init.qmp;
    this.guestChannel = join(init.dir, QEMU_FILES.guest);
    this.consoleLog = join(init.dir, QEMU_FILES.console);
    this.qemuLog = join(init.dir, QEMU_FILES.log);
    this.exited = this.keeper?.exited ?? whenGone(() => qemuAlive(this.pid, this.name));
  }

  get keeperPid(): number | undefined {
    return this.keeper ? this.keeper.keeperPid : this.init.keeperPid;
  }

  get bootArgs(): string {
    return this.init.bootArgs;
  }

  /** True while the QEMU process exists. */
  processAlive(): boolean {
    if (this.keeper) return this.keeper.running;
    return qemuAlive(this.pid, this.name);
  }

  /** User-mode networking: every guest has the same address, and a restored one keeps it. */
  guestNetwork(): GuestNetwork | undefined {
    return undefined;
  }

  /** Lets the VM outlive this mvmctl (`up -d`); until then a crash of mvmctl takes QEMU down with it. */
  detach(): void {
    this.qmp?.close();
    this.qmp = undefined;
    this.keeper?.detach();
  }

  private async control(): Promise<QmpClient> {
    if (!this.processAlive()) throw new MvmError("external", `VM ${this.name} is not running`);
    this.qmp ??= await QmpClient.connect(join(this.dir, QEMU_FILES.qmp));
    return this.qmp;
  }

  async state(): Promise<VmState> {
    if (!this.processAlive()) return "stopped";
    try {
      const s = await (await this.control()).execute<{ status: string }>("query-status");
      if (s.status === "running") return "running";
      if (s.status === "inmigrate" || s.status === "prelaunch") return "starting";
      return "paused";
    } catch {
      return this.processAlive() ? "starting" : "stopped";
    }
  }

  /** Waits until an incoming migration has loaded, resuming the VM if it loaded paused. */
  async waitRunning(timeoutMs: number, mark: (phase: string) => void = () => {}): Promise<void> {
    const qmp = await this.control();
    const deadline = Date.now() + timeoutMs;
    let loaded = false;
    for (;;) {
      const s = await qmp.execute<{ status: string }>("query-status");
      if (s.status === "running") {
        if (!loaded) mark("incoming_migration");
        mark("resume");
        return;
      }
      // The snapshot was taken paused, and QEMU keeps the source's run state: resume it ourselves.
      if (s.status === "paused") {
        if (!loaded) mark("incoming_migration");
        loaded = true;
        await qmp.execute("cont");
        continue;
      }
      if (s.status !== "inmigrate" && s.status !== "prelaunch")
        // The guest died at once (a damaged memory image): its console says how far it got.
        throw new MvmError("external", `QEMU is ${s.status} after loading the snapshot`, {
          hint: `Its console: ${join(this.dir, QEMU_FILES.console)}`,
        });
      if (Date.now() > deadline) throw new MvmError("timeout", "QEMU did not finish loading the snapshot");
      await sleep(5);
    }
  }

  async pause(): Promise<void> {
    await (await this.control()).execute("stop");
  }

  async resume(): Promise<void> {
    await (await this.control()).execute("cont");
  }

  /**
   * Pauses the VM, saves device state, guest memory (sparse) and the disk overlay (backed by the
   * revision's rootfs through a relative path) into `into.dir`, files 0600. QEMU is stopped afterwards:
   * its memory file and overlay now belong to the snapshot.
   */
  async snapshot(into: SnapshotFiles): Promise<SnapshotResult> {
    const { snapshotable, fingerprint, layout } = this.init;
    if (!snapshotable)
      throw new MvmError(
        "unsupported",
        `VM ${this.name} was not started snapshotable (memory is not in a file)`,
      );
    if (!fingerprint) throw new MvmError("internal", "cannot snapshot a VM re-attached from another process");
    const qmp = await this.control();
    await qmp.execute("migrate-set-capabilities", {
      capabilities: [{ capability: "x-ignore-shared", state: true }],
    });
    await qmp.execute("stop");
    await qmp.execute("migrate", { uri: `exec:cat > ${QEMU_FILES.vmstate}` });
    const deadline = Date.now() + 300_000;
    for (;;) {
      const m = await qmp.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
      if (m.status === "completed") break;
      if (m.status === "failed" || m.status === "cancelled")
        throw new MvmError("external", `saving the VM failed: ${m["error-desc"] ?? m.status}`);
      if (Date.now() > deadline) throw new MvmError("timeout", "saving the VM took more than 300 s");
      await sleep(20);
    }
    await this.stop();
    const src = (f: string) => join(this.dir, f);
    const dst = (f: string) => join(into.dir, f);
    // Zero pages become holes: an idle guest's memory file then takes a fraction of its size.
    // (Where the filesystem cannot punch holes the file stays whole, and correct.)
    await digHoles(src(QEMU_FILES.mem));
    await fs.mkdir(into.dir, { recursive: true });
    await moveFile(src(QEMU_FILES.vmstate), dst(layout.vmstate));
    await moveFile(src(QEMU_FILES.mem), dst(layout.mem));
    await moveFile(src(QEMU_FILES.disk), dst(layout.disk));
    if (into.rootfs)
      await runHelper(requireTool("qemu-img"), [
        "rebase",
        "-u",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        relative(into.dir, into.rootfs),
        dst(layout.disk),
      ]);
    for (const f of [layout.vmstate, layout.mem, layout.disk]) {
      await fs.chmod(dst(f), 0o600);
      await fsyncFile(dst(f));
    }
    const vmstate = await fs.stat(dst(layout.vmstate));
    const mem = await fs.stat(dst(layout.mem));
    return {
      vmstateBytes: vmstate.size,
      memBytes: mem.size,
      memAllocatedBytes: mem.blocks * 512,
      bootArgs: this.bootArgs,
      fingerprint,
    };
  }

  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.processAlive()) {
      try {
        const qmp = await this.control();
        await Promise.race([qmp.execute("quit").catch(() => {}), sleep(1000)]);
      } catch {
        // no control socket: fall through to signals
      }
      const deadline = Date.now() + (opts.graceMs ?? 3000);
      while (this.processAlive() && Date.now() < deadline) await sleep(20);
      if (this.processAlive()) {
        this.keeper?.kill();
        signalPid(this.pid, "SIGKILL");
        const hard = Date.now() + 5000;
        while (this.processAlive() && Date.now() < hard) await sleep(20);
      }
    }
    this.qmp?.close();
    this.qmp = undefined;
    if (this.keeper) await Promise.race([this.keeper.exited, sleep(5000)]);
  }
}
