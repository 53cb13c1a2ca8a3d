import { join } from "node:path";
import { dataDir } from "../store/paths.js";
import { Sandbox } from "./sandbox.js";
import { callJson, type Endpoint } from "./transport.js";
import type { HostInfo, TemplateInfo, VmInfo } from "./types.js";

export type MvmOptions = { socket?: string } | { url: string; apiKey: string };

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

/**
 * A client of one `mvmctl serve` daemon: `new Mvm()` uses this user's daemon socket
 * (`$MVM_DATA_DIR/mvmd.sock`, else `~/.mvm/mvmd.sock`); `new Mvm({ url, apiKey })` a daemon on TCP.
 */
export class Mvm {
  private readonly endpoint: Endpoint;

  constructor(opts: MvmOptions = {}) {
    this.endpoint =
      "url" in opts
        ? { url: opts.url, apiKey: opts.apiKey }
        : { socket: opts.socket ?? join(dataDir(), "mvmd.sock") };
  }

  readonly templates = {
    list: async (): Promise<TemplateInfo[]> =>
      (await callJson<{ templates: TemplateInfo[] }>(this.endpoint, { method: "GET", path: "/v1/templates" }))
        .templates,
    get: (name: string): Promise<TemplateInfo> =>
      callJson(this.endpoint, { method: "GET", path: `/v1/templates/${encodeURIComponent(name)}` }),
  };

  host(): Promise<HostInfo> {
    return callJson(this.endpoint, { method: "GET", path: "/v1/host" });
  }

  /** Starts a VM from a template and resolves once it is ready (every health check passes). */
  async start(template: string, opts: StartOptions = {}): Promise<Sandbox> {
    const info = await callJson<VmInfo>(this.endpoint, {
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
    return new Sandbox(this.endpoint, info);
  }

  /** VMs on the host, optionally only those carrying every given label. */
  async list(opts: { labels?: Record<string, string> } = {}): Promise<Sandbox[]> {
    const label = Object.entries(opts.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const r = await callJson<{ vms: VmInfo[] }>(this.endpoint, {
      method: "GET",
      path: "/v1/vms",
      query: { label },
    });
    return r.vms.map((v) => new Sandbox(this.endpoint, v));
  }

  /** A VM by name (`vm_not_found` if there is none). */
  async get(name: string): Promise<Sandbox> {
    const info = await callJson<VmInfo>(this.endpoint, {
      method: "GET",
      path: `/v1/vms/${encodeURIComponent(name)}`,
    });
    return new Sandbox(this.endpoint, info);
  }
}
