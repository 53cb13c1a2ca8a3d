// The QEMU backend: `qemu-system-x86_64 -M microvm` (qemu/args.ts), KVM only when a real probe says it
// works (else TCG), QMP on a unix socket, user-mode networking with hostfwd for ports, the console in a
// bounded log, and the guest agent on a virtio-serial port. Every VM gets its own qcow2 overlay: the
// template's rootfs is never written.
//
// Snapshots. A snapshotable VM keeps its RAM in a file of the VM directory (memory-backend-file,
// share=on). Snapshotting sets the `x-ignore-shared` migration capability, so the migration stream
// (vmstate.bin) holds device state only and the memory file *is* the memory image; zero pages are then
// punched out of it (fallocate --dig-holes). Restoring maps that file privately (share=off): QEMU starts
// without reading guest memory, pages fault in from the page cache on first touch and the guest's
// writes stay in the VM's own private copy, so restore time does not grow with guest memory and
// any number of VMs restore from one immutable file.
//
// QEMU runs with cwd = the VM directory and every file it names there is relative (sockets, overlay,
// console, memory, links to the revision's files), so no user-controlled path ever reaches QEMU's
// comma-separated option syntax or the migration `exec:` command line.

import { createHash } from "node:crypto";
import { promises as fs, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { MvmError, messageOf } from "../../core/errors.js";
import type { SnapshotFingerprint } from "../../core/snapshot.js";
import { hostCpuModel } from "../../host/cpu.js";
import { runProgram, sleep } from "../../host/process.js";
import { requireTool } from "../../host/tools.js";
import type { BackendCapabilities, HypervisorBackend, SnapshotFiles, VmConfig } from "../backend.js";
import { imageSha256 } from "../image-digest.js";
import { consoleLogMaxBytes } from "../keeper/console-log.js";
import { processKeeper } from "../keeper/kept.js";
import {
  type Accel,
  AGENT_PORT_NAME,
  extraDrives,
  fullBootArgs,
  MACHINE,
  QEMU_FILES,
  qemuArgs,
  stableBootArgs,
} from "./args.js";
import { cachedVersion } from "../../host/version-cache.js";
import { hostProbeKernel, probeKvm } from "./kvm-probe.js";
import { freshOverlay } from "./overlay.js";
import { tcgTbSizeMib } from "./tb-size.js";
import { QEMU_SNAPSHOT } from "./snapshot-layout.js";
import { QmpClient } from "./qmp.js";
import { QemuVm, runHelper } from "./vm.js";

export interface QemuOptions {
  binary?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the KVM probe result is cached (keyed by QEMU version and host kernel). */
  cacheDir?: string;
  /**
   * Where QEMU's version is remembered per binary (host/version-cache.ts) and fresh disk overlays are
   * kept for copying (qemu/overlay.ts).
   */
  versionCacheDir?: string;
}

interface QemuRecord {
  pid: number;
  keeper_pid: number;
  started_at: string;
  snapshotable: boolean;
}

async function tail(path: string, max = 1500): Promise<string> {
  try {
    const text = await fs.readFile(path, "utf8");
    return text.slice(-max).trim();
  } catch {
    return "";
  }
}

/** Why QEMU failed, in one line a user can act on. */
async function qemuFailure(dir: string, what: string): Promise<MvmError> {
  const log = await tail(join(dir, QEMU_FILES.log));
  const fwd = /Could not set up host forwarding rule '([^']*)'/.exec(log);
  if (fwd)
    return new MvmError("external", `${what}: host port already in use (${fwd[1]})`, {
      hint: "Pick another host port with -p HOST:GUEST, or stop what is listening there.",
    });
  const last = log
    .split("\n")
    .filter((l) => l.trim() !== "")
    .pop();
  return new MvmError("external", `${what}${last ? `: ${last.replace(/^qemu-system-x86_64: /, "")}` : ""}`, {
    hint: `QEMU's log: ${join(dir, QEMU_FILES.log)}`,
  });
}

async function linkInto(dir: string, name: string, target: string): Promise<void> {
  await fs.rm(join(dir, name), { force: true });
  await fs.symlink(resolve(target), join(dir, name));
}

export class QemuBackend implements HypervisorBackend {
  readonly name = "qemu" as const;
  private readonly env: NodeJS.ProcessEnv;
  private versionCache: Promise<string> | undefined;
  private accelCache: Promise<Accel> | undefined;

  constructor(private readonly opts: QemuOptions = {}) {
    this.env = opts.env ?? process.env;
  }

  /** The QEMU binary: the one given, else MVM_QEMU_BIN or qemu-system-<arch> on PATH (host/tools.ts). */
  private get bin(): string {
    return this.opts.binary ?? requireTool("qemu", this.env);
  }

  version(): Promise<string> {
    const ask = () =>
      Promise.resolve()
        .then(() =>
          runProgram(this.bin, ["--version"], {
            timeoutMs: 10_000,
            env: this.env,
            missing: () =>
              new MvmError("external", `${this.bin} not found`, {
                hint: "Install it with: apt-get install qemu-system-x86",
              }),
          }),
        )
        .then((r) => {
          if (r.code !== 0 || r.timedOut)
            throw new MvmError(
              "external",
              `${this.bin} --version failed: ${r.timedOut ? "timed out" : r.stderr.trim().split("\n").pop() || `exit status ${r.code}`}`,
            );
          const m = /version\s+(\S+)/.exec(r.stdout);
          return m?.[1] ?? r.stdout.split("\n")[0]?.trim() ?? "unknown";
        });
    this.versionCache ??= Promise.resolve().then(() =>
      cachedVersion(this.bin, this.opts.versionCacheDir, ask),
    );
    this.versionCache.catch(() => {
      this.versionCache = undefined;
    });
    return this.versionCache;
  }

  /**
   * KVM only when MVM_QEMU_ACCEL=kvm forces it or a real probe works: /dev/kvm can exist and still be
   * unusable (QEMU aborts setting MSRs, or a nested guest hangs after its real-mode banner), so the probe
   * boots a real kernel under KVM and checks it prints its first line (kvm-probe.ts).
   */
  accel(kernel?: string): Promise<Accel> {
    this.accelCache ??= this.resolveAccel(kernel);
    return this.accelCache;
  }

  private async resolveAccel(kernel: string | undefined): Promise<Accel> {
    const forced = this.env.MVM_QEMU_ACCEL?.trim();
    if (forced === "kvm" || forced === "tcg") return forced;
    if (forced)
      throw new MvmError("usage", `MVM_QEMU_ACCEL must be "kvm" or "tcg", got ${JSON.stringify(forced)}`);
    try {
      await fs.access("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      return "tcg";
    }
    let osRelease = "";
    try {
      osRelease = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
    } catch {
      // not Linux: the probe below decides
    }
    const key = createHash("sha256")
      .update(`boot-probe\0${await this.version()}\0${osRelease}`)
      .digest("hex")
      .slice(0, 16);
    const cache = this.opts.cacheDir ? join(this.opts.cacheDir, `.kvm-probe-${key}`) : undefined;
    if (cache) {
      const known = await fs.readFile(cache, "utf8").catch(() => "");
      if (known === "kvm" || known === "tcg") return known;
    }
    const kvmWorks = await probeKvm({
      qemu: this.bin,
      machine: MACHINE,
      kernel: kernel ?? hostProbeKernel(),
    });
    const result: Accel = kvmWorks ? "kvm" : "tcg";
    if (cache)
      await fs
        .mkdir(this.opts.cacheDir as string, { recursive: true })
        .then(() => fs.writeFile(cache, result));
    return result;
  }

  async capabilities(): Promise<BackendCapabilities> {
    return {
      snapshots: true,
      lazyMemoryRestore: true,
      portForwarding: true,
      kvm: (await this.accel()) === "kvm",
    };
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await this.version();
      requireTool("qemu-img", this.env);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: messageOf(e) };
    }
  }

  async fingerprint(cfg: VmConfig): Promise<SnapshotFingerprint> {
    const accel = await this.accel(cfg.images.kernel);
    return {
      backend: this.name,
      backend_version: await this.version(),
      machine: MACHINE,
      accel,
      cpu_model: accel === "kvm" ? `host:${hostCpuModel()}` : "max",
      vcpus: cfg.vcpus,
      mem_mib: cfg.memMib,
      kernel_sha256: await imageSha256(cfg.images.kernel, cfg.digests?.kernel),
      initrd_sha256: cfg.images.initrd ? await imageSha256(cfg.images.initrd, cfg.digests?.initrd) : null,
      rootfs_sha256: await imageSha256(cfg.images.rootfs, cfg.digests?.rootfs),
      boot_args: stableBootArgs(cfg),
      drives: ["root", ...extraDrives(cfg).map((d) => d.id)].join(","),
      guest_channel: `virtio-serial:${AGENT_PORT_NAME}`,
    };
  }

  boot(cfg: VmConfig): Promise<QemuVm> {
    return this.launch(cfg, undefined);
  }

  restore(cfg: VmConfig, from: SnapshotFiles): Promise<QemuVm> {
    return this.launch(cfg, from);
  }

  /** Re-opens a VM started by another mvmctl process (for `ls`/`down`), or undefined if none. */
  async attach(name: string, dir: string): Promise<QemuVm | undefined> {
    let rec: QemuRecord;
    try {
      rec = JSON.parse(await fs.readFile(join(dir, QEMU_FILES.record), "utf8")) as QemuRecord;
    } catch {
      return undefined;
    }
    if (!Number.isSafeInteger(rec.pid) || rec.pid <= 0) return undefined;
    return new QemuVm({
      name,
      dir: resolve(dir),
      pid: rec.pid,
      ...(Number.isSafeInteger(rec.keeper_pid) && rec.keeper_pid > 0 ? { keeperPid: rec.keeper_pid } : {}),
      snapshotable: Boolean(rec.snapshotable),
      bootArgs: "",
      layout: QEMU_SNAPSHOT,
    });
  }

  private async launch(cfg: VmConfig, from: SnapshotFiles | undefined): Promise<QemuVm> {
    const mark = cfg.mark ?? (() => {});
    const dir = resolve(cfg.dir);
    const accel = await this.accel(cfg.images.kernel);
    const memory = from ? "private" : cfg.snapshotable ? "shared" : "anonymous";
    const tbSizeMib = accel === "tcg" ? tcgTbSizeMib(this.env) : undefined;
    const keeper = cfg.keeper ?? processKeeper;
    const args = qemuArgs(cfg, {
      accel,
      memory,
      incoming: Boolean(from),
      consoleSocket: keeper.readsConsoleSocket,
      ...(tbSizeMib !== undefined ? { tbSizeMib } : {}),
    });
    const fingerprint = memory === "shared" ? await this.fingerprint(cfg) : undefined;
    const layout = QEMU_SNAPSHOT;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of [
      QEMU_FILES.qmp,
      QEMU_FILES.agent,
      QEMU_FILES.consoleSocket,
      QEMU_FILES.mem,
      QEMU_FILES.disk,
    ])
      await fs.rm(join(dir, f), { force: true });
    await linkInto(dir, QEMU_FILES.kernel, cfg.images.kernel);
    if (cfg.images.initrd) await linkInto(dir, QEMU_FILES.initrd, cfg.images.initrd);
    for (const d of extraDrives(cfg)) await linkInto(dir, `drive-${d.id}.img`, d.path);
    const qemuImg = requireTool("qemu-img", this.env);
    if (from) {
      for (const f of [layout.vmstate, layout.mem, layout.disk])
        await fs.access(join(from.dir, f)).catch(() => {
          throw new MvmError("not_found", `snapshot file ${join(from.dir, f)} is missing`);
        });
      const memSize = (await fs.stat(join(from.dir, layout.mem))).size;
      if (memSize !== cfg.memMib * 1024 * 1024)
        throw new MvmError(
          "corrupt",
          `snapshot memory file holds ${memSize} bytes, expected ${cfg.memMib} MiB`,
        );
      await linkInto(dir, QEMU_FILES.snapVmstate, join(from.dir, layout.vmstate));
      await linkInto(dir, QEMU_FILES.snapMem, join(from.dir, layout.mem));
      const snapDisk = resolve(from.dir, layout.disk);
      // A fresh overlay is made by qemu-img once per image and copied for later starts.
      await freshOverlay(snapDisk, "qcow2", join(dir, QEMU_FILES.disk), this.opts.versionCacheDir, () =>
        runHelper(
          qemuImg,
          ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", snapDisk, QEMU_FILES.disk],
          dir,
        ),
      );
    } else {
      const rootfs = resolve(cfg.images.rootfs);
      await freshOverlay(rootfs, "raw", join(dir, QEMU_FILES.disk), this.opts.versionCacheDir, () =>
        runHelper(qemuImg, ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", rootfs, QEMU_FILES.disk], dir),
      );
    }
    mark("vm_dir");

    const kept = keeper.start(
      {
        argv: [this.bin, ...args],
        cwd: dir,
        console: QEMU_FILES.console,
        ...(keeper.readsConsoleSocket ? { consoleSocket: QEMU_FILES.consoleSocket } : { stdinPipe: true }),
        consoleMaxBytes: consoleLogMaxBytes(this.env),
        stderrLog: QEMU_FILES.log,
        vmDir: dir,
        setpriv: "/usr/bin/setpriv",
        guestMux: { listen: QEMU_FILES.guest, agent: QEMU_FILES.agent },
      },
      "QEMU",
      this.env,
    );
    let vm: QemuVm | undefined;
    try {
      const pid = await kept.childPid;
      mark("vmm_spawn");
      const rec: QemuRecord = {
        pid,
        keeper_pid: kept.keeperPid ?? 0,
        started_at: new Date().toISOString(),
        snapshotable: memory === "shared",
      };
      await fs.writeFile(join(dir, QEMU_FILES.record), JSON.stringify(rec), { mode: 0o600 });
      const qmp = await QmpClient.connectRetry(
        join(dir, QEMU_FILES.qmp),
        Date.now() + 15_000,
        () => kept.running,
      );
      mark("qmp_ready");
      vm = new QemuVm({
        name: cfg.name,
        dir,
        pid,
        keeper: kept,
        qmp,
        snapshotable: memory === "shared",
        bootArgs: fullBootArgs(cfg, accel),
        ...(fingerprint ? { fingerprint } : {}),
        layout,
      });
      if (from) {
        await qmp.execute("migrate-set-capabilities", {
          capabilities: [{ capability: "x-ignore-shared", state: true }],
        });
        // A constant command line: the link in the VM dir names the revision's file.
        await qmp.execute("migrate-incoming", { uri: `exec:cat ${QEMU_FILES.snapVmstate}` });
        await vm.waitRunning(60_000, mark);
      }
      return vm;
    } catch (e) {
      const died = !kept.running;
      kept.kill();
      await Promise.race([kept.exited, sleep(5000)]);
      // A raw socket error (EPIPE, ECONNRESET on QMP) means QEMU went away while we talked to it.
      if (!died && e instanceof MvmError) throw e;
      // QEMU itself gave up: its own words say why (bad image, port taken, incompatible state).
      throw await qemuFailure(dir, from ? "QEMU could not restore the snapshot" : "QEMU failed to start");
    }
  }
}
