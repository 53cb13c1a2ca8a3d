import { join } from "node:path";
import { dataDir } from "../store/paths.js";
import { EventStream } from "./events.js";
import type { InProcessOptions, InProcessServer } from "./in-process.js";
import { Sandbox } from "./sandbox.js";
import { callJson, type Endpoint } from "./transport.js";
import type { HostEventType, HostInfo, PullResult, TemplateInfo, VmInfo } from "./types.js";

/**
 * Where the API is: a daemon's unix socket (default: this user's), a daemon on TCP, or — with
 * `dataDir` — no daemon at all: the API runs inside this process (see `close`).
 */
export type MvmOptions = { socket?: string } | { url: string; apiKey: string } | InProcessOptions;

export interface StartOptions {
  name?: string;
  cpus?: number;
  memMib?: number;
  /** Host port → guest port forwards. */
  ports?: { host: number; guest: number }[];
  /** Environment every exec in this VM gets. */
  env?: Record<string, string>;
  labels?: Record<string, string>;
  /** The daemon stops the VM this long after it was created. */
  ttlMs?: number;
  signal?: AbortSignal;
}

export interface PullRef {
  template: string;
  /** s3://bucket/prefix or oci://host/repository (@sha256:<digest> or :<tag> pins the manifest); default: the daemon's registry. */
  registry?: string;
  revision?: string;
  /** Pull the revision this registry tag names, and set the same tag here. */
  tag?: string;
}

/**
 * A client of the mvmctl API: `new Mvm()` uses this user's daemon socket (`$MVM_DATA_DIR/mvmd.sock`,
 * else `~/.mvm/mvmd.sock`); `new Mvm({ url, apiKey })` a daemon on TCP; `new Mvm({ dataDir })` runs
 * the API in this process, without a daemon.
 */
export class Mvm {
  private readonly endpoint: Promise<Endpoint>;
  private readonly local: Promise<InProcessServer> | undefined;

  constructor(opts: MvmOptions = {}) {
    if ("dataDir" in opts) {
      const o = opts;
      this.local = import("./in-process.js").then((m) => m.startInProcess(o));
      this.endpoint = this.local.then((l) => l.endpoint);
    } else
      this.endpoint = Promise.resolve(
        "url" in opts
          ? { url: opts.url, apiKey: opts.apiKey }
          : { socket: opts.socket ?? join(dataDir(), "mvmd.sock") },
      );
    this.endpoint.catch(() => {}); // reported by the first call
  }

  private async call<T>(c: Parameters<typeof callJson>[1]): Promise<T> {
    return callJson<T>(await this.endpoint, c);
  }

  readonly templates = {
    list: async (): Promise<TemplateInfo[]> =>
      (await this.call<{ templates: TemplateInfo[] }>({ method: "GET", path: "/v1/templates" })).templates,
    get: (name: string): Promise<TemplateInfo> =>
      this.call({ method: "GET", path: `/v1/templates/${encodeURIComponent(name)}` }),
    /**
     * Pulls a template revision from a registry (every file checked against its digest) and makes it
     * current; `ref` is a template name (from the daemon's registry) or where to pull it from.
     * Progress is published as `template.pull.*` events.
     */
    pull: (ref: string | PullRef, opts: { signal?: AbortSignal } = {}): Promise<PullResult> =>
      this.call({
        method: "POST",
        path: "/v1/templates/pull",
        json: typeof ref === "string" ? { template: ref } : ref,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
  };

  host(): Promise<HostInfo> {
    return this.call({ method: "GET", path: "/v1/host" });
  }

  /**
   * What happens on the host (VMs created, ready, paused, resumed, exited, killed, expired; template
   * pulls), as an async iterable; `await stream.opened` before acting if you must not miss an event.
   */
  events(opts: { types?: HostEventType[]; signal?: AbortSignal } = {}): EventStream {
    return new EventStream(this.endpoint, opts);
  }

  /** Starts a VM from a template and resolves once it is ready (every health check passes). */
  async start(template: string, opts: StartOptions = {}): Promise<Sandbox> {
    const endpoint = await this.endpoint;
    const info = await callJson<VmInfo>(endpoint, {
      method: "POST",
      path: "/v1/vms",
      json: {
        template,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
        ...(opts.memMib !== undefined ? { mem_mib: opts.memMib } : {}),
        ...(opts.ports ? { ports: opts.ports } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.labels ? { labels: opts.labels } : {}),
        ...(opts.ttlMs !== undefined ? { ttl_ms: opts.ttlMs } : {}),
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return new Sandbox(endpoint, info);
  }

  /** VMs on the host, optionally only those carrying every given label. */
  async list(opts: { labels?: Record<string, string> } = {}): Promise<Sandbox[]> {
    const endpoint = await this.endpoint;
    const label = Object.entries(opts.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const r = await callJson<{ vms: VmInfo[] }>(endpoint, {
      method: "GET",
      path: "/v1/vms",
      query: { label },
    });
    return r.vms.map((v) => new Sandbox(endpoint, v));
  }

  /** A VM by name (`vm_not_found` if there is none). */
  async get(name: string): Promise<Sandbox> {
    const endpoint = await this.endpoint;
    const info = await callJson<VmInfo>(endpoint, {
      method: "GET",
      path: `/v1/vms/${encodeURIComponent(name)}`,
    });
    return new Sandbox(endpoint, info);
  }

  /**
   * Ends an in-process client (`dataDir`): its API and TTL reaper stop; its VMs keep running unless
   * `stopVms`. A no-op for a client of a daemon.
   */
  async close(opts: { stopVms?: boolean } = {}): Promise<void> {
    if (!this.local) return;
    const l = await this.local.catch(() => undefined);
    await l?.close({ stopVms: Boolean(opts.stopVms) });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
