import { existsSync } from "node:fs";
import { join } from "node:path";
import type { VmInfo } from "../core/api-objects.js";
import { MvmError } from "../core/errors.js";
import { pidAlive } from "../host/process.js";
import { Timeline } from "../host/timeline.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import { backendByName, type HypervisorChoice, selectBackend } from "../hypervisor/index.js";
import type { HostKeeper } from "../hypervisor/keeper/in-process.js";
import { detachVm, startVm, sweepDeadVms } from "../vm/start.js";
import { stopVm } from "../vm/stop.js";
import { defaultVmName } from "../vm/template-image.js";
import { listVmNames, readVmRecord, type VmRecord } from "../vm/records.js";
import { ApiError } from "./api-error.js";
import { EventHub } from "./events.js";
import type { CreateVmBody } from "./validate.js";
import { META_FILE, readVmMeta, type VmMeta, writeVmMeta } from "./vm-meta.js";

// The VMs of this host as the API sees them. VMs are ordinary VM directories (`mvmctl ls` and `down`
// see them, and the daemon sees VMs the CLI started); the daemon adds labels, environment and a TTL
// in each VM's api.json. Limits count every VM on the host plus the starts in progress, and are
// checked before anything boots.

export interface HostLimits {
  maxVms: number;
  maxMemMib: number;
}

/** A VM as the API shows it. */
export type VmView = VmInfo;

function view(rec: VmRecord, meta: VmMeta): VmView {
  return {
    name: rec.name,
    template: rec.template,
    revision: rec.revision,
    backend: rec.backend,
    mode: rec.mode,
    state:
      rec.pid > 0 && pidAlive(rec.pid) && rec.ready_ms !== undefined
        ? meta.paused
          ? "paused"
          : "running"
        : "starting",
    pid: rec.pid,
    ports: rec.ports,
    cpus: rec.vcpus,
    mem_mib: rec.mem_mib,
    created_at: rec.created_at,
    ready_ms: rec.ready_ms ?? null,
    labels: meta.labels,
    expires_at: meta.expires_at,
  };
}

export class VmService {
  /** Starts in progress: name → memory reserved. */
  private readonly pending = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private reaper: NodeJS.Timeout | undefined;
  /** VMs seen running at the last sweep: one that disappears without being stopped here exited. */
  private known = new Set<string>();
  /** VMs stopped here since the last sweep (their end is already published). */
  private readonly ended = new Set<string>();
  /** Everything that happens to VMs and templates here, for GET /v1/events. */
  readonly events = new EventHub();

  constructor(
    readonly paths: DataPaths,
    readonly store: TemplateStore,
    readonly opts: {
      hypervisor: HypervisorChoice;
      readyTimeoutMs: number;
      limits: HostLimits;
      /** Keeps the VMs this service starts in this process (no keeper process per VM). */
      keeper?: HostKeeper;
    },
  ) {}

  /**
   * Takes back the VMs an earlier run of this daemon kept (they ran on while it was away); stops
   * those whose start it did not finish. Returns the names taken back and stopped.
   */
  async adoptKept(): Promise<{ adopted: string[]; stopped: string[] }> {
    const adopted: string[] = [];
    const stopped: string[] = [];
    const keeper = this.opts.keeper;
    if (!keeper) return { adopted, stopped };
    for (const name of await listVmNames(this.paths, true)) {
      const done = await keeper.adopt(this.paths.vm(name)).catch(() => undefined);
      if (done === "adopted") adopted.push(name);
      else if (done === "stopped") stopped.push(name);
    }
    await sweepDeadVms(this.paths);
    return { adopted, stopped };
  }

  /** Every VM on this host (any starter), dead ones swept. */
  async records(): Promise<VmRecord[]> {
    await sweepDeadVms(this.paths);
    const out: VmRecord[] = [];
    for (const name of await listVmNames(this.paths)) {
      const rec = await readVmRecord(this.paths.vm(name));
      if (rec) out.push(rec);
    }
    return out;
  }

  async usage(): Promise<{ vms: number; mem_mib: number }> {
    const recs = await this.records();
    let vms = recs.length;
    let mem = recs.reduce((a, r) => a + (r.mem_mib || 0), 0);
    for (const [name, m] of this.pending)
      if (!recs.some((r) => r.name === name)) {
        vms++;
        mem += m;
      }
    // A pending start whose directory exists is counted once, by its reservation.
    for (const r of recs)
      if (this.pending.has(r.name)) {
        mem += (this.pending.get(r.name) ?? 0) - (r.mem_mib || 0);
      }
    return { vms, mem_mib: mem };
  }

  async list(labels: Record<string, string>): Promise<VmView[]> {
    const out: VmView[] = [];
    for (const rec of await this.records()) {
      const meta = await readVmMeta(this.paths.vm(rec.name));
      if (Object.entries(labels).every(([k, v]) => meta.labels[k] === v)) out.push(view(rec, meta));
    }
    return out;
  }

  async get(name: string): Promise<VmView> {
    const rec = await readVmRecord(this.paths.vm(name));
    if (!rec || (rec.pid > 0 && !pidAlive(rec.pid)))
      throw new ApiError(404, "vm_not_found", `no VM named ${name}`);
    return view(rec, await readVmMeta(this.paths.vm(name)));
  }

  /** Starts a VM and resolves once it is ready; `signal` (the client went away) stops a start in progress. */
  async create(body: CreateVmBody, signal?: AbortSignal): Promise<VmView> {
    const spec = await this.store.loadSpec(body.template).catch((e: unknown) => {
      if (e instanceof MvmError && e.kind === "not_found")
        throw new ApiError(404, "template_not_found", `no template named ${body.template}`);
      throw e;
    });
    const name = body.name ?? defaultVmName(body.template);
    const mem = body.mem_mib ?? spec.mem_mib;
    if (this.pending.has(name)) throw new ApiError(409, "vm_exists", `a VM named ${name} is being started`);
    const used = await this.usage();
    const { maxVms, maxMemMib } = this.opts.limits;
    if (used.vms + 1 > maxVms)
      throw new ApiError(429, "too_many_vms", `this host runs ${used.vms} of at most ${maxVms} VMs`);
    if (used.mem_mib + mem > maxMemMib)
      throw new ApiError(
        507,
        "insufficient_memory",
        `${mem} MiB more would exceed this host's ${maxMemMib} MiB for VMs (${used.mem_mib} MiB in use)`,
      );
    this.pending.set(name, mem);
    const timeline = new Timeline();
    timeline.mark("admission");
    let created = false;
    const expiresAt = body.ttl_ms ? new Date(Date.now() + body.ttl_ms).toISOString() : null;
    try {
      const backend = await selectBackend(this.opts.hypervisor, this.paths);
      const started = await startVm(this.store, this.paths, backend, {
        template: body.template,
        ...(body.revision !== undefined ? { revision: body.revision } : {}),
        name,
        ...(body.cpus !== undefined ? { vcpus: body.cpus } : {}),
        ...(body.mem_mib !== undefined ? { memMib: body.mem_mib } : {}),
        ports: body.ports.map((p) => ({ host: p.host, guest: p.guest })),
        readyTimeoutMs: this.opts.readyTimeoutMs,
        mark: timeline.mark,
        ...(this.opts.keeper ? { keeper: this.opts.keeper } : {}),
        onVm: (abort) => {
          // Called once the VM's directory is claimed: the name is this VM's from here on.
          created = true;
          this.events.publish("vm.created", { vm: name, template: body.template });
          if (signal?.aborted) void abort();
          else signal?.addEventListener("abort", () => void abort(), { once: true });
        },
      }).catch((e: unknown) => {
        if (e instanceof MvmError && e.kind === "exists") throw new ApiError(409, "vm_exists", e.message);
        throw e;
      });
      const meta: VmMeta = { labels: body.labels, env: body.env, expires_at: expiresAt };
      await writeVmMeta(started.dir, meta);
      await detachVm(started);
      timeline.mark("detach");
      this.known.add(name);
      this.ended.delete(name);
      this.events.publish("vm.ready", {
        vm: name,
        template: body.template,
        mode: started.record.mode,
        ready_ms: started.record.ready_ms ?? null,
      });
      return { ...view(started.record, meta), timings: timeline.phases };
    } catch (e) {
      if (created)
        this.events.publish("vm.exited", { vm: name, template: body.template, reason: "start_failed" });
      throw e;
    } finally {
      this.pending.delete(name);
    }
  }

  async setTtl(name: string, ttlMs: number | null): Promise<VmView> {
    await this.get(name);
    const dir = this.paths.vm(name);
    const meta = await readVmMeta(dir);
    meta.expires_at = ttlMs === null ? null : new Date(Date.now() + ttlMs).toISOString();
    await writeVmMeta(dir, meta);
    return this.get(name);
  }

  async env(name: string): Promise<Record<string, string>> {
    return (await readVmMeta(this.paths.vm(name))).env;
  }

  /** Stops a VM and removes its files; `reason` names the event published (killed or expired). */
  async kill(name: string, reason: "killed" | "expired" = "killed"): Promise<void> {
    if (this.pending.has(name)) throw new ApiError(409, "vm_starting", `VM ${name} is still starting`);
    const rec = await readVmRecord(this.paths.vm(name));
    if (!rec) throw new ApiError(404, "vm_not_found", `no VM named ${name}`);
    if (this.stopping.has(name)) return;
    this.stopping.add(name);
    try {
      await stopVm(this.paths, name);
      this.known.delete(name);
      this.ended.add(name);
      this.events.publish(reason === "expired" ? "vm.expired" : "vm.killed", {
        vm: name,
        template: rec.template,
      });
    } finally {
      this.stopping.delete(name);
    }
  }

  /** The record of a running VM that is neither starting nor stopping, or a 404/409. */
  private async settled(name: string): Promise<VmRecord> {
    if (this.pending.has(name)) throw new ApiError(409, "vm_starting", `VM ${name} is still starting`);
    if (this.stopping.has(name)) throw new ApiError(409, "vm_stopping", `VM ${name} is being stopped`);
    const rec = await readVmRecord(this.paths.vm(name));
    if (!rec || rec.pid <= 0 || !pidAlive(rec.pid))
      throw new ApiError(404, "vm_not_found", `no VM named ${name}`);
    return rec;
  }

  /** Refuses guest access (exec, files) to a paused VM: its agent cannot answer until resumed. */
  async requireRunning(name: string): Promise<void> {
    await this.get(name);
    if ((await readVmMeta(this.paths.vm(name))).paused)
      throw new ApiError(409, "vm_paused", `VM ${name} is paused; resume it first`);
  }

  /** Stops a VM's vCPUs (QEMU: QMP stop; Firecracker: PATCH /vm Paused); memory stays allocated. */
  async pause(name: string): Promise<VmView> {
    return this.setPaused(name, true);
  }

  /** Lets a paused VM run again where it left off. */
  async resume(name: string): Promise<VmView> {
    return this.setPaused(name, false);
  }

  private async setPaused(name: string, paused: boolean): Promise<VmView> {
    const rec = await this.settled(name);
    const dir = this.paths.vm(name);
    const backend = await backendByName(rec.backend, this.paths);
    const vm = await backend.attach?.(name, dir);
    if (!vm)
      throw new ApiError(
        409,
        "pause_unsupported",
        `VM ${name} cannot be ${paused ? "paused" : "resumed"} by this daemon (its ${rec.backend} control socket is not available)`,
      );
    try {
      if (paused) await vm.pause();
      else await vm.resume();
    } catch (e) {
      throw new ApiError(
        502,
        "hypervisor_error",
        `${rec.backend} refused to ${paused ? "pause" : "resume"} ${name}: ${(e as Error).message}`,
      );
    } finally {
      // Lets go of the control connection (QEMU's QMP socket takes one client at a time).
      vm.detach?.();
    }
    const meta = await readVmMeta(dir);
    const changed = Boolean(meta.paused) !== paused;
    if (paused) meta.paused = true;
    else delete meta.paused;
    await writeVmMeta(dir, meta);
    if (changed)
      this.events.publish(paused ? "vm.paused" : "vm.resumed", { vm: name, template: rec.template });
    return view(rec, meta);
  }

  /** Publishes `vm.exited` for VMs that ended on their own (guest poweroff, crash, `mvmctl down`). */
  async watchExits(): Promise<void> {
    const now = new Set((await this.records()).filter((r) => r.pid > 0).map((r) => r.name));
    for (const name of this.known)
      if (!now.has(name) && !this.pending.has(name) && !this.stopping.has(name) && !this.ended.has(name))
        this.events.publish("vm.exited", { vm: name, reason: "process_ended" });
    for (const name of this.ended) if (!now.has(name)) this.ended.delete(name);
    this.known = now;
  }

  /** Stops every VM whose TTL has passed. */
  async reap(now = Date.now()): Promise<string[]> {
    const reaped: string[] = [];
    for (const name of await listVmNames(this.paths)) {
      if (this.pending.has(name) || this.stopping.has(name)) continue;
      const meta = await readVmMeta(this.paths.vm(name));
      if (meta.expires_at === null || Date.parse(meta.expires_at) > now) continue;
      await this.kill(name, "expired").then(
        () => reaped.push(name),
        () => {},
      );
    }
    return reaped;
  }

  startReaper(intervalMs: number, onReap: (names: string[]) => void = () => {}): void {
    let busy = false;
    this.reaper = setInterval(() => {
      if (busy) return;
      busy = true;
      this.reap()
        .then((n) => n.length > 0 && onReap(n))
        .then(() => this.watchExits())
        .catch(() => {})
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    this.reaper.unref();
  }

  stopReaper(): void {
    if (this.reaper) clearInterval(this.reaper);
  }

  /** VMs the daemon started (they carry an api.json), for --stop-vms-on-exit. */
  async stopOwned(): Promise<void> {
    for (const name of await listVmNames(this.paths)) {
      if (existsSync(join(this.paths.vm(name), META_FILE))) await this.kill(name).catch(() => {});
    }
  }
}
