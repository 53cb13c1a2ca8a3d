// The Firecracker backend: one `firecracker --api-sock …` process per VM, configured over its REST
// API (api.ts). Built to Firecracker's documented v1.x API; see docs/firecracker.md for
// what has been run against a real Firecracker and what only against the wire-level fake.
//
// Restorability: every path Firecracker bakes into a snapshot (the rootfs copy, the extra drives, the
// vsock socket) is relative, and Firecracker is spawned with cwd = the VM directory, so one snapshot
// restores in any VM directory. The network device is re-pointed at the new VM's own TAP with
// `network_overrides` (Firecracker ≥ 1.12); the guest learns its new address from the post-restore
// request. Guest memory is restored with the `File` backend, which maps the revision's mem.bin
// privately: nothing is copied and pages are read on demand.

import { promises as fs } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { MvmError, messageOf } from "../../core/errors.js";
import type { SnapshotFingerprint } from "../../core/snapshot.js";
import { hostCpuModel } from "../../host/cpu.js";
import { sleep } from "../../host/process.js";
import { lookupTool } from "../../host/tools.js";
import { DataPaths } from "../../store/paths.js";
import type { BackendCapabilities, HypervisorBackend, SnapshotFiles, VmConfig } from "../backend.js";
import { hostKernelArgs, kernelCommandLine, templateKernelArgs } from "../boot-args.js";
import { imageSha256 } from "../image-digest.js";
import { consoleLogMaxBytes } from "../keeper/console-log.js";
import { type KeeperLink, startKeeper } from "../keeper/link.js";
import { type Drive, FirecrackerApi, FirecrackerApiError } from "./api.js";
import { findFirecracker, firecrackerVersion, NETWORK_OVERRIDES_SINCE, versionAtLeast } from "./binary.js";
import { checkKernelFormat, copySparse } from "./images.js";
import { FC_SNAPSHOT } from "./snapshot-layout.js";
import { startForwarder, stopForwarder } from "./port-forwarder.js";
import { kvmProbeCached } from "./probe.js";
import { allocateTap, deleteTap, type TapDevice, tapForSlot } from "./tap.js";
import { FirecrackerVm, GUEST_CID, NET_IFACE_ID } from "./vm.js";
import { exists, FC_FILES, mustExist, readRecord, type VmRecord } from "./vmdir.js";

// Re-exported: callers (doctor, tests) reach everything Firecracker from here.
export {
  findFirecracker,
  firecrackerVersion,
  NETWORK_OVERRIDES_SINCE,
  versionAtLeast,
} from "./binary.js";
export { FC_SNAPSHOT } from "./snapshot-layout.js";
export { FirecrackerVm, GUEST_CID, GUEST_VSOCK_PORT, NET_IFACE_ID } from "./vm.js";
export { FC_FILES, firecrackerVmAlive, reapFirecrackerTaps } from "./vmdir.js";

/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

const EXTRA_DRIVES = [
  { key: "config", id: "config", file: "config.ext4", readOnly: true },
  { key: "secrets", id: "secrets", file: "secrets.ext4", readOnly: true },
  { key: "data", id: "data", file: "data.ext4", readOnly: false },
] as const;

export type FirecrackerNetwork = "tap" | "none";

export interface FirecrackerOptions {
  /** The binary; default `$MVM_FIRECRACKER_BIN`, else `firecracker` on `$PATH`. */
  bin?: string;
  /** "tap" (default, needs CAP_NET_ADMIN): a TAP per VM. "none": no network device, vsock only. */
  network?: FirecrackerNetwork;
  /** How long the API socket may take to appear after spawning. */
  socketTimeoutMs?: number;
  /** Per API request. */
  apiTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  paths?: DataPaths;
  /** Time limit of the KVM probe (probe.ts). */
  probeTimeoutMs?: number;
}

export class FirecrackerBackend implements HypervisorBackend {
  readonly name = "firecracker" as const;
  private readonly env: NodeJS.ProcessEnv;
  private readonly network: FirecrackerNetwork;
  private readonly socketTimeoutMs: number;
  private readonly apiTimeoutMs: number;
  private readonly paths: DataPaths;
  private binCache: Promise<string | undefined> | undefined;
  private versionCache: Promise<string> | undefined;

  constructor(private readonly opts: FirecrackerOptions = {}) {
    this.env = opts.env ?? process.env;
    const net = opts.network ?? this.env.MVM_FIRECRACKER_NETWORK;
    if (net !== undefined && net !== "tap" && net !== "none")
      throw new MvmError(
        "usage",
        `MVM_FIRECRACKER_NETWORK must be "tap" or "none", got ${JSON.stringify(net)}`,
      );
    this.network = net ?? "tap";
    this.socketTimeoutMs = opts.socketTimeoutMs ?? 10_000;
    this.apiTimeoutMs = opts.apiTimeoutMs ?? 120_000;
    this.paths = opts.paths ?? new DataPaths();
  }

  private bin(): Promise<string | undefined> {
    this.binCache ??= this.opts.bin ? Promise.resolve(this.opts.bin) : findFirecracker(this.env);
    return this.binCache;
  }

  private async requireBin(): Promise<string> {
    const bin = await this.bin();
    if (!bin) {
      const found = lookupTool("firecracker", this.env);
      throw new MvmError("unsupported", `firecracker binary not found: ${found.problem}`, {
        hint: found.install,
      });
    }
    return bin;
  }

  version(): Promise<string> {
    this.versionCache ??= this.requireBin().then((b) => firecrackerVersion(b, this.env));
    this.versionCache.catch(() => {
      this.versionCache = undefined; // a failed probe is not remembered
    });
    return this.versionCache;
  }

  async capabilities(): Promise<BackendCapabilities> {
    // Ports are forwarded to the guest's TAP address by a small forwarder process (port-forwarder.ts).
    return { snapshots: true, lazyMemoryRestore: true, portForwarding: this.network === "tap", kvm: true };
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    const bin = await this.bin();
    if (!bin)
      return {
        ok: false,
        reason: `firecracker binary not found: ${lookupTool("firecracker", this.env).problem} (set MVM_FIRECRACKER_BIN or add it to PATH)`,
      };
    try {
      await fs.access("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    } catch (e) {
      return { ok: false, reason: `/dev/kvm is not usable: ${messageOf(e)}` };
    }
    let version: string;
    try {
      version = await this.version();
    } catch (e) {
      return { ok: false, reason: messageOf(e) };
    }
    // A writable /dev/kvm is not a working one: boot a test microVM (cached per version and kernel).
    if (this.env.MVM_FIRECRACKER_SKIP_PROBE !== "1") {
      const probe = await kvmProbeCached(bin, version, this.paths.vms, this.env, this.opts.probeTimeoutMs);
      if (!probe.ok) return { ok: false, reason: `KVM does not work for Firecracker here: ${probe.reason}` };
    }
    return { ok: true };
  }

  async fingerprint(cfg: VmConfig): Promise<SnapshotFingerprint> {
    // Digests the caller already has (a revision's checksums.json) spare hashing the images again.
    const digests = cfg.digests ?? {};
    return {
      backend: this.name,
      backend_version: await this.version(),
      machine: `firecracker-${process.arch}`,
      cpu_model: hostCpuModel(),
      vcpus: cfg.vcpus,
      mem_mib: cfg.memMib,
      kernel_sha256: await imageSha256(cfg.images.kernel, digests.kernel),
      initrd_sha256: cfg.images.initrd ? await imageSha256(cfg.images.initrd, digests.initrd) : null,
      rootfs_sha256: await imageSha256(cfg.images.rootfs, digests.rootfs),
      boot_args: stableBootArgs(cfg),
      drives: driveIds(cfg).join(","),
      network: this.network,
    };
  }

  async boot(cfg: VmConfig): Promise<FirecrackerVm> {
    const bin = await this.requireBin();
    this.checkPorts(cfg);
    await checkKernelFormat(cfg.images.kernel);
    await prepareDir(cfg);
    await copySparse(cfg.images.rootfs, join(cfg.dir, FC_FILES.rootfs));
    return this.launch(bin, cfg, async (api, tap, bootArgs) => {
      await api.putBootSource({
        kernel_image_path: resolve(cfg.images.kernel),
        boot_args: bootArgs,
        ...(cfg.images.initrd ? { initrd_path: resolve(cfg.images.initrd) } : {}),
      });
      await api.putMachineConfig({ vcpu_count: cfg.vcpus, mem_size_mib: cfg.memMib, smt: false });
      for (const d of driveConfigs(cfg)) await api.putDrive(d);
      if (tap)
        await api.putNetworkInterface({
          iface_id: NET_IFACE_ID,
          host_dev_name: tap.name,
          guest_mac: tap.guestMac,
        });
      await api.putVsock({ guest_cid: GUEST_CID, uds_path: FC_FILES.vsock });
      await api.instanceStart();
    });
  }

  async restore(cfg: VmConfig, from: SnapshotFiles): Promise<FirecrackerVm> {
    const bin = await this.requireBin();
    this.checkPorts(cfg);
    const snap = {
      vmstate: resolve(from.dir, FC_SNAPSHOT.vmstate),
      mem: resolve(from.dir, FC_SNAPSHOT.mem),
      disk: resolve(from.dir, FC_SNAPSHOT.disk),
    };
    for (const p of [snap.vmstate, snap.mem]) await mustExist(p, "snapshot file");
    if (!(await exists(snap.disk))) {
      const qemu = await exists(join(from.dir, "disk.qcow2"));
      throw new MvmError(
        qemu ? "unsupported" : "not_found",
        qemu
          ? `the snapshot in ${from.dir} was made by QEMU; Firecracker cannot restore it`
          : `snapshot file missing: ${snap.disk}`,
        { hint: "Cold-boot instead, or rebuild the snapshot with this backend (template build --snapshot)." },
      );
    }
    if (this.network === "tap") {
      const version = await this.version();
      if (!versionAtLeast(version, NETWORK_OVERRIDES_SINCE))
        throw new MvmError(
          "unsupported",
          `Firecracker ${version} cannot re-point a restored VM's network device (network_overrides needs ${NETWORK_OVERRIDES_SINCE.join(".")} or later)`,
          { hint: "Upgrade Firecracker, cold-boot with --cold, or set MVM_FIRECRACKER_NETWORK=none." },
        );
    }
    await prepareDir(cfg);
    await copySparse(snap.disk, join(cfg.dir, FC_FILES.rootfs));
    return this.launch(bin, cfg, async (api, tap) => {
      await api.loadSnapshot({
        snapshot_path: snap.vmstate,
        mem_backend: { backend_type: "File", backend_path: snap.mem },
        resume_vm: true,
        ...(tap ? { network_overrides: [{ iface_id: NET_IFACE_ID, host_dev_name: tap.name }] } : {}),
      });
    });
  }

  /** Re-opens a VM started by another mvmctl process (for `ls`/`down`), or undefined if none. */
  async attach(name: string, dir: string): Promise<FirecrackerVm | undefined> {
    const rec = await readRecord(dir);
    if (!rec) return undefined;
    const tap = rec.tap_slot === null ? undefined : tapForSlot(rec.tap_slot);
    return new FirecrackerVm({
      name,
      dir,
      pid: rec.pid ?? 0,
      api: this.api(dir),
      tap,
      bootArgs: "",
      forwarderPid: rec.forwarder_pid ?? null,
      keeperPid: rec.keeper_pid ?? null,
    });
  }

  private checkPorts(cfg: VmConfig): void {
    if (cfg.ports.length > 0 && this.network !== "tap")
      throw new MvmError("unsupported", "port forwarding on Firecracker needs TAP networking", {
        hint: "Unset MVM_FIRECRACKER_NETWORK=none (and run as root), or use --hypervisor qemu.",
      });
  }

  private api(dir: string): FirecrackerApi {
    return new FirecrackerApi(join(dir, FC_FILES.apiSocket), { timeoutMs: this.apiTimeoutMs });
  }

  /**
   * Spawns Firecracker in the VM directory, waits for its API, runs `configure`, and hands back the VM.
   * On any failure the process is killed and the TAP removed before the error propagates.
   */
  private async launch(
    bin: string,
    cfg: VmConfig,
    configure: (api: FirecrackerApi, tap: TapDevice | undefined, bootArgs: string) => Promise<void>,
  ): Promise<FirecrackerVm> {
    const dir = resolve(cfg.dir);
    const mark = cfg.mark ?? (() => {});
    const apiSock = join(dir, FC_FILES.apiSocket);
    const consolePath = join(dir, FC_FILES.console);
    let keeper: KeeperLink | undefined;
    let tap: TapDevice | undefined;
    let forwarderPid: number | null = null;
    // Recorded before and right after spawning, so that if this mvmctl dies at any point, `attach`
    // (mvmctl down) still finds the process and the TAP to remove.
    const record = (pid: number | null) =>
      fs.writeFile(
        join(dir, FC_FILES.state),
        JSON.stringify({
          pid,
          tap: tap?.name ?? null,
          tap_slot: tap?.slot ?? null,
          forwarder_pid: forwarderPid,
          keeper_pid: keeper?.pid || null,
          started_at: new Date().toISOString(),
        } satisfies VmRecord),
        { mode: 0o600 },
      );
    try {
      for (const p of [apiSock, join(dir, FC_FILES.vsock)]) {
        if (Buffer.byteLength(p) > MAX_SOCKET_PATH)
          throw new MvmError(
            "unsupported",
            `socket path too long for a unix socket (${Buffer.byteLength(p)} bytes): ${p}`,
            { hint: "Use a shorter MVM_DATA_DIR." },
          );
        await fs.rm(p, { force: true });
      }
      if (this.network === "tap")
        await allocateTap(this.paths, dir, (t) => {
          tap = t;
          return record(null);
        });
      else await record(null);
      const bootArgs = fullBootArgs(cfg, tap);
      // Firecracker opens the log file, it does not create it.
      await fs.writeFile(join(dir, FC_FILES.log), "", { mode: 0o600 });
      mark("vm_dir");
      // cwd = the VM dir: the relative drive and vsock paths resolve here, at boot and at restore.
      // The keeper (own session: a terminal Ctrl-C reaches mvmctl only) owns the process: if this
      // mvmctl dies before detach(), the VM dies with it and its TAP and directory go. Firecracker
      // prints its console on stdout only, so its VMs always get a keeper process (never cfg.keeper):
      // a daemon that kept them itself would lose their console when it restarts.
      keeper = startKeeper(
        {
          argv: [bin, "--api-sock", apiSock],
          cwd: dir,
          // Firecracker's stdout and stderr both go to the console log.
          console: consolePath,
          consoleMaxBytes: consoleLogMaxBytes(this.env),
          vmDir: dir,
          ...(tap ? { tap: (tap as TapDevice).name } : {}),
          setpriv: "/usr/bin/setpriv",
        },
        "firecracker",
        this.env,
      );
      const link = keeper;
      const pid = await link.childPid;
      await record(pid);
      mark("vmm_spawn");
      const api = this.api(dir);
      await waitForApi(apiSock, () => link.exit, this.socketTimeoutMs, consolePath);
      mark("api_ready");
      await api.putLogger({ log_path: FC_FILES.log, level: "Warning", show_level: true });
      try {
        await configure(api, tap, bootArgs);
      } catch (e) {
        throw await withConsoleHint(e, consolePath);
      }
      mark("configure");
      if (tap && cfg.ports.length > 0) {
        const guestIp = (tap as TapDevice).guestIp;
        forwarderPid = await startForwarder({
          specs: cfg.ports.map((p) => ({
            hostAddress: p.hostAddress ?? "127.0.0.1",
            hostPort: p.host,
            guestAddress: guestIp,
            guestPort: p.guest,
          })),
          vmDir: dir,
          watchPid: pid,
          logPath: join(dir, FC_FILES.forwarderLog),
        });
        await record(pid);
      }
      return new FirecrackerVm({
        name: cfg.name,
        dir,
        pid,
        api,
        tap,
        bootArgs,
        fingerprint: () => this.fingerprint(cfg),
        keeper: link,
        forwarderPid,
        keeperPid: link.pid,
      });
    } catch (e) {
      if (keeper) await keeper.killAndWait();
      if (forwarderPid) stopForwarder(forwarderPid, dir);
      if (tap) await deleteTap((tap as TapDevice).name).catch(() => {});
      await fs.rm(apiSock, { force: true });
      await fs.rm(join(dir, FC_FILES.vsock), { force: true });
      await fs.rm(join(dir, FC_FILES.state), { force: true });
      throw e;
    }
  }
}

/** Polls until the API answers, the process exits, or the deadline passes. */
async function waitForApi(
  sock: string,
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
  timeoutMs: number,
  consolePath: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = exited();
    if (gone) {
      const how = gone.code !== null ? `with code ${gone.code}` : `on signal ${gone.signal}`;
      const said = await lastLine(consolePath);
      throw new MvmError("external", `firecracker exited ${how} before its API socket appeared`, {
        ...(said ? { hint: `firecracker said: ${said}` } : {}),
      });
    }
    if (await exists(sock)) {
      try {
        await new FirecrackerApi(sock, { timeoutMs: 1_000 }).describeInstance();
        return;
      } catch {
        // bound but not serving yet
      }
    }
    if (Date.now() >= deadline)
      throw new MvmError(
        "timeout",
        `firecracker's API socket did not appear within ${timeoutMs} ms: ${sock}`,
      );
    await sleep(20);
  }
}

/** Adds Firecracker's last words to an API error, when it printed any (it logs why it refused or died). */
async function withConsoleHint(e: unknown, consolePath: string): Promise<unknown> {
  if (!(e instanceof FirecrackerApiError) || e.hint) return e;
  const said = await lastLine(consolePath);
  return said ? e.withHint(`firecracker said: ${said}`) : e;
}

/** Kernel words every guest gets; the root words only without an initrd (the initrd mounts root itself). */
function stableBootArgs(cfg: VmConfig): string {
  const fixed = ["console=ttyS0", "reboot=k", "panic=1"];
  if (!cfg.images.initrd) fixed.push("root=/dev/vda", "rw", "rootwait", "init=/init");
  return templateKernelArgs(fixed, cfg.bootArgs);
}

/** The template's words plus the per-VM address (not part of the fingerprint: it differs per VM). */
function fullBootArgs(cfg: VmConfig, tap: TapDevice | undefined): string {
  const host = tap ? hostKernelArgs({ ip: `${tap.guestIp}/${tap.prefixLen}`, gateway: tap.hostIp }) : [];
  return kernelCommandLine(stableBootArgs(cfg), host);
}

function driveIds(cfg: VmConfig): string[] {
  return ["rootfs", ...EXTRA_DRIVES.filter((d) => cfg.drives?.[d.key]).map((d) => d.id)];
}

/** Drives in guest order (/dev/vda, vdb, …), every path relative to the VM directory. */
function driveConfigs(cfg: VmConfig): Drive[] {
  const out: Drive[] = [
    { drive_id: "rootfs", path_on_host: FC_FILES.rootfs, is_root_device: true, is_read_only: false },
  ];
  for (const d of EXTRA_DRIVES)
    if (cfg.drives?.[d.key])
      out.push({ drive_id: d.id, path_on_host: d.file, is_root_device: false, is_read_only: d.readOnly });
  return out;
}

/**
 * Creates the VM directory and gives each extra drive its fixed relative name there (a symlink when
 * the file lives elsewhere), so the names baked into a snapshot exist in every VM directory.
 */
async function prepareDir(cfg: VmConfig): Promise<void> {
  await fs.mkdir(cfg.dir, { recursive: true, mode: 0o700 });
  for (const d of EXTRA_DRIVES) {
    const src = cfg.drives?.[d.key];
    if (!src) continue;
    const abs = resolve(src);
    await mustExist(abs, `${d.key} drive`);
    const link = join(cfg.dir, d.file);
    if (abs === resolve(link)) continue;
    await fs.rm(link, { force: true });
    const rel = relative(resolve(cfg.dir), abs);
    await fs.symlink(isAbsolute(rel) || rel.startsWith("..") ? abs : rel, link);
  }
}

async function lastLine(path: string): Promise<string> {
  try {
    const h = await fs.open(path, "r");
    try {
      const st = await h.stat();
      const len = Math.min(st.size, 4096);
      const buf = Buffer.alloc(len);
      await h.read(buf, 0, len, st.size - len);
      const lines = buf
        .toString("utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
      return (lines[lines.length - 1] ?? "").slice(0, 300);
    } finally {
      await h.close();
    }
  } catch {
    return "";
  }
}
