// The QEMU backend: `qemu-system-x86_64 -M microvm` with ACPI (the Debian kernel finds its virtio-mmio
// devices through ACPI), KVM only when a real probe says it works (else TCG), QMP on a unix socket,
// user-mode networking with hostfwd for ports, the console in a bounded log, and the guest agent on a
// virtio-serial port. Every VM gets its own qcow2 overlay: the template's rootfs is never written.
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

import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fs, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MvmError, messageOf } from "../core/errors.js";
import type { SnapshotFingerprint } from "../core/snapshot.js";
import { hostClockArg, hostTscKhz } from "../kit/boot-args.js";
import { pidAlive } from "../store/atomic.js";
import { sha256File } from "../store/checksums.js";
import type {
  BackendCapabilities,
  HypervisorBackend,
  SnapshotFiles,
  SnapshotResult,
  VmConfig,
  VmHandle,
  VmState,
} from "./backend.js";
import { consoleLogMaxBytes } from "./console-log.js";
import type { KeeperConfig } from "./qemu-keeper.js";
import { hostProbeKernel, probeKvm } from "./kvm-probe.js";
import { freshOverlay } from "./qemu-overlay.js";
import { QmpClient } from "./qmp.js";
import { requireTool } from "../host/tools.js";
import { cachedVersion } from "../host/version-cache.js";
import { tcgTbSizeMib } from "./tcg-tb-size.js";

export const QEMU_FILES = {
  qmp: "qmp.sock",
  agent: "agent.sock",
  /** The keeper's socket that shares the agent channel among clients (guest-mux.ts). */
  guest: "guest.sock",
  console: "console.log",
  log: "qemu.log",
  disk: "disk.qcow2",
  mem: "mem.bin",
  vmstate: "vmstate.bin",
  kernel: "kernel",
  initrd: "initrd",
  /** Links to the snapshot being restored (inside the revision, never written). */
  snapVmstate: "restore-vmstate.bin",
  snapMem: "restore-mem.bin",
  record: "qemu.json",
} as const;

/** The guest agent's virtio-serial port name (docs/guest-protocol.md). */
export const AGENT_PORT_NAME = "org.mvm.agent";
export const MACHINE = "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=on";
const KEEPER = fileURLToPath(new URL("./qemu-keeper.js", import.meta.url));

export type Accel = "kvm" | "tcg";

export interface QemuOptions {
  binary?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the KVM probe result is cached (keyed by QEMU version and host kernel). */
  cacheDir?: string;
  /**
   * Where QEMU's version is remembered per binary (host/version-cache.ts) and fresh disk overlays
   * are kept for copying (qemu-overlay.ts).
   */
  versionCacheDir?: string;
}

interface QemuRecord {
  pid: number;
  keeper_pid: number;
  started_at: string;
  snapshotable: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(
  prog: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      prog,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT")
            reject(new MvmError("external", `${prog} not found`, { hint: installHint(prog) }));
          else
            reject(
              new MvmError(
                "external",
                `${prog} ${args[0] ?? ""} failed: ${(stderr || err.message).trim().split("\n").pop()}`,
              ),
            );
        } else resolvePromise({ stdout, stderr });
      },
    );
  });
}

function installHint(prog: string): string {
  if (prog.startsWith("qemu-img")) return "Install it with: apt-get install qemu-utils";
  if (prog.startsWith("qemu")) return "Install it with: apt-get install qemu-system-x86";
  return "Install it with: apt-get install util-linux";
}

/**
 * TCG's TSC runs at the host's rate; a guest kernel that tries to calibrate it against the PIT on a
 * loaded host fails and then hangs without a timer. Handing it the rate avoids that. Host tuning
 * only: it is not part of a snapshot's fingerprint.
 */
function hostCpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The part of the kernel command line that belongs to the template (recorded and compared).
 * `init_on_free=1`: pages the guest frees are zeroed, so they become holes in a snapshot's memory
 * file (an idle 256 MiB guest: 56 MiB allocated instead of ~90) and freed data (keys, buffers) never
 * reaches a snapshot that is copied to other hosts.
 */
export function stableBootArgs(cfg: VmConfig): string {
  return ["console=ttyS0", "panic=-1", "quiet", "init_on_free=1", cfg.bootArgs ?? ""].join(" ").trim();
}

/** The stable part plus host tuning and the host's wall clock (microvm runs without an RTC). */
function fullBootArgs(cfg: VmConfig, accel: Accel): string {
  const tsc = accel === "tcg" ? hostTscKhz() : undefined;
  return [stableBootArgs(cfg), ...(tsc ? [`tsc_early_khz=${tsc}`] : []), hostClockArg()].join(" ");
}

/** The extra drives in the order the guest contract expects them: vdb config, vdc secrets, vdd data. */
function extraDrives(cfg: VmConfig): Array<{ id: string; path: string; readonly: boolean }> {
  const out: Array<{ id: string; path: string; readonly: boolean }> = [];
  if (cfg.drives?.config) out.push({ id: "config", path: cfg.drives.config, readonly: true });
  if (cfg.drives?.secrets) out.push({ id: "secrets", path: cfg.drives.secrets, readonly: true });
  if (cfg.drives?.data) out.push({ id: "data", path: cfg.drives.data, readonly: false });
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export interface QemuArgsOptions {
  accel: Accel;
  /** TCG only: the translation cache in MiB (QEMU's default when undefined). */
  tbSizeMib?: number;
  /** RAM in a file of the VM dir: "shared" (snapshotable) or "private" (restore from a snapshot). */
  memory: "anonymous" | "shared" | "private";
  incoming: boolean;
}

/** QEMU's argv (without the program), every VM-dir file relative to the VM dir (QEMU's cwd). */
export function qemuArgs(cfg: VmConfig, o: QemuArgsOptions): string[] {
  const machine = o.memory === "anonymous" ? MACHINE : `${MACHINE},memory-backend=mem`;
  const args = [
    "-name",
    `mvm-${cfg.name}`,
    "-M",
    machine,
    "-accel",
    o.accel === "tcg" && o.tbSizeMib !== undefined ? `tcg,tb-size=${o.tbSizeMib}` : o.accel,
    "-cpu",
    o.accel === "kvm" ? "host" : "max",
    "-m",
    `${cfg.memMib}M`,
    "-smp",
    String(cfg.vcpus),
  ];
  if (o.memory !== "anonymous") {
    const file = o.memory === "shared" ? QEMU_FILES.mem : QEMU_FILES.snapMem;
    args.push(
      "-object",
      `memory-backend-file,id=mem,size=${cfg.memMib}M,mem-path=${file},share=${o.memory === "shared" ? "on" : "off"}`,
    );
  }
  args.push(
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    // The console goes to QEMU's stdout, which the keeper writes into a bounded, rotated log.
    "-serial",
    "stdio",
    "-kernel",
    QEMU_FILES.kernel,
  );
  if (cfg.images.initrd) args.push("-initrd", QEMU_FILES.initrd);
  args.push(
    "-append",
    fullBootArgs(cfg, o.accel),
    "-drive",
    `id=root,file=${QEMU_FILES.disk},format=qcow2,if=none`,
    "-device",
    "virtio-blk-device,drive=root",
  );
  for (const d of extraDrives(cfg))
    args.push(
      "-drive",
      `id=${d.id},file=drive-${d.id}.img,format=raw,if=none${d.readonly ? ",readonly=on" : ""}`,
      "-device",
      `virtio-blk-device,drive=${d.id}`,
    );
  let netdev = "user,id=net0";
  for (const p of cfg.ports) {
    const addr = p.hostAddress ?? "127.0.0.1";
    if (!IPV4.test(addr)) throw new MvmError("usage", `invalid host address ${JSON.stringify(addr)}`);
    netdev += `,hostfwd=tcp:${addr}:${p.host}-:${p.guest}`;
  }
  args.push(
    "-netdev",
    netdev,
    "-device",
    "virtio-net-device,netdev=net0",
    "-device",
    "virtio-serial-device",
    "-chardev",
    `socket,id=agent,path=${QEMU_FILES.agent},server=on,wait=off`,
    "-device",
    `virtserialport,chardev=agent,name=${AGENT_PORT_NAME}`,
    "-qmp",
    `unix:${QEMU_FILES.qmp},server=on,wait=off`,
  );
  if (o.incoming) args.push("-incoming", "defer");
  return args;
}

/** Known SHA-256s per image path (revision files are immutable), else hashed once per process. */
const hashCache = new Map<string, Promise<string>>();
function imageSha256(path: string, known?: string): Promise<string> {
  if (known) return Promise.resolve(known);
  const key = resolve(path);
  let h = hashCache.get(key);
  if (!h) {
    h = sha256File(path);
    hashCache.set(key, h);
    h.catch(() => hashCache.delete(key));
  }
  return h;
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

/** A QEMU of ours is alive at `pid` (not a recycled pid running something else). */
export function qemuAlive(pid: number, name: string): boolean {
  return pidAlive(pid) && commandLineOf(pid).includes(`mvm-${name}\0`);
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

async function fsyncFile(path: string): Promise<void> {
  const h = await fs.open(path, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
    await run("cp", ["--sparse=always", "--", from, to]);
    await fs.rm(from, { force: true });
  }
}

/** The channel between mvmctl and the keeper process that owns one QEMU (see qemu-keeper.ts). */
class Keeper {
  readonly pid: number;
  readonly qemuPid: Promise<number>;
  /** Resolves when the keeper (and so QEMU) has exited. */
  readonly exited: Promise<void>;
  private qemuExited = false;
  private isDetached = false;

  constructor(private readonly child: ReturnType<typeof spawn>) {
    this.pid = child.pid ?? 0;
    let buf = "";
    let gotPid: (n: number) => void = () => {};
    let failed: (e: Error) => void = () => {};
    this.qemuPid = new Promise<number>((res, rej) => {
      gotPid = res;
      failed = rej;
    });
    this.qemuPid.catch(() => {});
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      buf += d;
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl < 0) break;
        const [kind, a] = buf.slice(0, nl).split(" ");
        buf = buf.slice(nl + 1);
        if (kind === "pid") gotPid(Number(a));
        else if (kind === "exit") {
          this.qemuExited = true;
          failed(new MvmError("external", "QEMU exited at once"));
        } else if (kind === "error") failed(new MvmError("external", `cannot run QEMU: ${a}`));
      }
    });
    this.exited = new Promise<void>((res) => {
      child.once("exit", () => {
        this.qemuExited = true;
        failed(new MvmError("external", "QEMU's keeper exited"));
        res();
      });
    });
    child.stdin?.on("error", () => {});
  }

  get running(): boolean {
    return !this.qemuExited;
  }

  kill(): void {
    if (!this.isDetached) this.child.stdin?.write("kill\n");
  }

  /** Hands the VM over: it keeps running after this mvmctl exits. */
  detach(): void {
    if (this.isDetached) return;
    this.isDetached = true;
    this.child.stdin?.write("detach\n");
    this.child.stdin?.end();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
    this.child.unref();
  }
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
      run(this.bin, ["--version"], { timeoutMs: 10_000 }).then((r) => {
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
    return new QemuVm(name, resolve(dir), rec.pid, undefined, undefined, Boolean(rec.snapshotable), "");
  }

  private async launch(cfg: VmConfig, from: SnapshotFiles | undefined): Promise<QemuVm> {
    const mark = cfg.mark ?? (() => {});
    const dir = resolve(cfg.dir);
    const accel = await this.accel(cfg.images.kernel);
    const memory = from ? "private" : cfg.snapshotable ? "shared" : "anonymous";
    const tbSizeMib = accel === "tcg" ? tcgTbSizeMib(this.env) : undefined;
    const args = qemuArgs(cfg, {
      accel,
      memory,
      incoming: Boolean(from),
      ...(tbSizeMib !== undefined ? { tbSizeMib } : {}),
    });
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of [QEMU_FILES.qmp, QEMU_FILES.agent, QEMU_FILES.mem, QEMU_FILES.disk])
      await fs.rm(join(dir, f), { force: true });
    await linkInto(dir, QEMU_FILES.kernel, cfg.images.kernel);
    if (cfg.images.initrd) await linkInto(dir, QEMU_FILES.initrd, cfg.images.initrd);
    for (const d of extraDrives(cfg)) await linkInto(dir, `drive-${d.id}.img`, d.path);
    if (from) {
      const snapDisk = resolve(from.dir, "disk.qcow2");
      for (const f of ["vmstate.bin", "mem.bin", "disk.qcow2"])
        await fs.access(join(from.dir, f)).catch(() => {
          throw new MvmError("not_found", `snapshot file ${join(from.dir, f)} is missing`);
        });
      const memSize = (await fs.stat(join(from.dir, "mem.bin"))).size;
      if (memSize !== cfg.memMib * 1024 * 1024)
        throw new MvmError(
          "corrupt",
          `snapshot memory file holds ${memSize} bytes, expected ${cfg.memMib} MiB`,
        );
      await linkInto(dir, QEMU_FILES.snapVmstate, join(from.dir, "vmstate.bin"));
      await linkInto(dir, QEMU_FILES.snapMem, join(from.dir, "mem.bin"));
      await freshOverlay(snapDisk, "qcow2", join(dir, QEMU_FILES.disk), this.opts.versionCacheDir, () =>
        run(
          requireTool("qemu-img", this.env),
          ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", snapDisk, QEMU_FILES.disk],
          { cwd: dir },
        ).then(() => {}),
      );
    } else {
      const rootfs = resolve(cfg.images.rootfs);
      await freshOverlay(rootfs, "raw", join(dir, QEMU_FILES.disk), this.opts.versionCacheDir, () =>
        run(
          requireTool("qemu-img", this.env),
          ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", rootfs, QEMU_FILES.disk],
          { cwd: dir },
        ).then(() => {}),
      );
    }

    mark("vm_dir");
    const keeperCfg: KeeperConfig = {
      argv: [this.bin, ...args],
      cwd: dir,
      log: QEMU_FILES.log,
      console: QEMU_FILES.console,
      consoleMaxBytes: consoleLogMaxBytes(this.env),
      vmDir: dir,
      setpriv: "/usr/bin/setpriv",
      guestMux: { listen: QEMU_FILES.guest, agent: QEMU_FILES.agent },
    };
    const child = spawn(process.execPath, [KEEPER, JSON.stringify(keeperCfg)], {
      cwd: dir,
      detached: true, // own session: a terminal Ctrl-C reaches mvmctl, which stops the VM itself
      stdio: ["pipe", "pipe", "ignore"],
      env: this.env,
    });
    const keeper = new Keeper(child);
    let vm: QemuVm | undefined;
    try {
      const pid = await keeper.qemuPid;
      mark("vmm_spawn");
      const rec: QemuRecord = {
        pid,
        keeper_pid: keeper.pid,
        started_at: new Date().toISOString(),
        snapshotable: memory === "shared",
      };
      await fs.writeFile(join(dir, QEMU_FILES.record), JSON.stringify(rec), { mode: 0o600 });
      const qmp = await QmpClient.connectRetry(
        join(dir, QEMU_FILES.qmp),
        Date.now() + 15_000,
        () => keeper.running,
      );
      mark("qmp_ready");
      vm = new QemuVm(cfg.name, dir, pid, keeper, qmp, memory === "shared", fullBootArgs(cfg, accel));
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
      const died = !keeper.running;
      keeper.kill();
      await Promise.race([keeper.exited, sleep(5000)]);
      // A raw socket error (EPIPE, ECONNRESET on QMP) means QEMU went away while we talked to it.
      if (!died && e instanceof MvmError) throw e;
      // QEMU itself gave up: its own words say why (bad image, port taken, incompatible state).
      throw await qemuFailure(dir, from ? "QEMU could not restore the snapshot" : "QEMU failed to start");
    }
  }
}

export class QemuVm implements VmHandle {
  readonly backend = "qemu" as const;
  readonly guestChannel: string;
  readonly consoleLog: string;
  readonly qemuLog: string;

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly pid: number,
    private readonly keeper: Keeper | undefined,
    private qmp: QmpClient | undefined,
    private readonly snapshotable: boolean,
    /** The kernel command line this VM booted with ("" when attached from another process). */
    readonly bootArgs: string,
  ) {
    this.guestChannel = join(dir, QEMU_FILES.guest);
    this.consoleLog = join(dir, QEMU_FILES.console);
    this.qemuLog = join(dir, QEMU_FILES.log);
  }

  get keeperPid(): number | undefined {
    return this.keeper?.pid;
  }

  /** True while the QEMU process exists. */
  processAlive(): boolean {
    if (this.keeper) return this.keeper.running;
    return qemuAlive(this.pid, this.name);
  }

  /** Resolves when QEMU has exited (only for VMs this process started). */
  get exited(): Promise<void> | undefined {
    return this.keeper?.exited;
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
          hint: `Its console: ${this.consoleLog}`,
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
   * Pauses the VM, saves device state (vmstate.bin), guest memory (mem.bin, sparse) and the disk overlay
   * (disk.qcow2, backed by the revision's rootfs through a relative path) into `into.dir`, files 0600.
   * QEMU is stopped afterwards: its memory file and overlay now belong to the snapshot.
   */
  async snapshot(into: SnapshotFiles): Promise<SnapshotResult> {
    if (!this.snapshotable)
      throw new MvmError(
        "unsupported",
        `VM ${this.name} was not started snapshotable (memory is not in a file)`,
      );
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
    await run("fallocate", ["--dig-holes", src(QEMU_FILES.mem)]);
    await fs.mkdir(into.dir, { recursive: true });
    await moveFile(src(QEMU_FILES.vmstate), dst("vmstate.bin"));
    await moveFile(src(QEMU_FILES.mem), dst("mem.bin"));
    await moveFile(src(QEMU_FILES.disk), dst("disk.qcow2"));
    if (into.rootfs)
      await run(requireTool("qemu-img"), [
        "rebase",
        "-u",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        relative(into.dir, into.rootfs),
        dst("disk.qcow2"),
      ]);
    for (const f of ["vmstate.bin", "mem.bin", "disk.qcow2"]) {
      await fs.chmod(dst(f), 0o600);
      await fsyncFile(dst(f));
    }
    const vmstate = await fs.stat(dst("vmstate.bin"));
    const mem = await fs.stat(dst("mem.bin"));
    return {
      vmstateBytes: vmstate.size,
      memBytes: mem.size,
      memAllocatedBytes: mem.blocks * 512,
      bootArgs: this.bootArgs,
      fingerprint: {}, // the caller records the fingerprint it computed before booting
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
        try {
          process.kill(this.pid, "SIGKILL");
        } catch {
          // already gone
        }
        const hard = Date.now() + 5000;
        while (this.processAlive() && Date.now() < hard) await sleep(20);
      }
    }
    this.qmp?.close();
    this.qmp = undefined;
    if (this.keeper) await Promise.race([this.keeper.exited, sleep(5000)]);
  }
}
