// A client for Firecracker's REST API (v1.x) over its unix socket. The request and response types
// mirror the wire format field for field (src/firecracker/swagger/firecracker.yaml upstream), so a
// body built here is exactly what Firecracker receives. Every status is checked: PUT/PATCH succeed
// with 204 only, GET with 200 only; anything else becomes an MvmError carrying Firecracker's own
// `fault_message`.

import { request } from "node:http";
import { MvmError } from "../../core/errors.js";

export interface BootSource {
  kernel_image_path: string;
  boot_args?: string;
  initrd_path?: string;
}

export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
  track_dirty_pages?: boolean;
}

export interface Drive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
  cache_type?: "Unsafe" | "Writeback";
  io_engine?: "Sync" | "Async";
}

export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
}

export interface Vsock {
  guest_cid: number;
  uds_path: string;
  vsock_id?: string;
}

export interface Logger {
  log_path?: string;
  level?: "Error" | "Warning" | "Info" | "Debug" | "Trace" | "Off";
  show_level?: boolean;
  show_log_origin?: boolean;
}

export interface SnapshotCreateParams {
  snapshot_type?: "Full" | "Diff";
  snapshot_path: string;
  mem_file_path: string;
}

export interface NetworkOverride {
  iface_id: string;
  host_dev_name: string;
}

export interface SnapshotLoadParams {
  snapshot_path: string;
  mem_backend: { backend_type: "File" | "Uffd"; backend_path: string };
  enable_diff_snapshots?: boolean;
  track_dirty_pages?: boolean;
  resume_vm?: boolean;
  /** Firecracker ≥ 1.12 only; older versions reject the unknown field. */
  network_overrides?: NetworkOverride[];
}

export type InstanceState = "Not started" | "Running" | "Paused";

export interface InstanceInfo {
  app_name: string;
  id: string;
  state: InstanceState;
  vmm_version: string;
}

/** A non-success answer from Firecracker (or no answer at all). */
export class FirecrackerApiError extends MvmError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number | undefined,
    readonly faultMessage: string,
    opts: { kind?: "external" | "timeout"; hint?: string } = {},
  ) {
    const what = status === undefined ? "failed" : `answered ${status}`;
    super(opts.kind ?? "external", `firecracker ${method} ${path} ${what}: ${faultMessage}`, {
      ...(opts.hint === undefined ? {} : { hint: opts.hint }),
    });
    this.name = "FirecrackerApiError";
  }

  /** The same error with a hint (e.g. the last line Firecracker printed before it died). */
  withHint(hint: string): FirecrackerApiError {
    const kind = this.kind === "timeout" ? "timeout" : "external";
    return new FirecrackerApiError(this.method, this.path, this.status, this.faultMessage, { kind, hint });
  }
}

/** Responses are small JSON documents; anything larger is not Firecracker talking. */
const MAX_RESPONSE_BYTES = 1 << 20;

export interface ApiOptions {
  /** Per-request timeout. Snapshot create/load of a large guest may take a while, hence generous. */
  timeoutMs?: number;
}

export class FirecrackerApi {
  private readonly timeoutMs: number;

  constructor(
    readonly socketPath: string,
    opts: ApiOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  putLogger(body: Logger): Promise<void> {
    return this.send("PUT", "/logger", body);
  }
  putBootSource(body: BootSource): Promise<void> {
    return this.send("PUT", "/boot-source", body);
  }
  putMachineConfig(body: MachineConfiguration): Promise<void> {
    return this.send("PUT", "/machine-config", body);
  }
  putDrive(body: Drive): Promise<void> {
    return this.send("PUT", `/drives/${encodeURIComponent(body.drive_id)}`, body);
  }
  putNetworkInterface(body: NetworkInterface): Promise<void> {
    return this.send("PUT", `/network-interfaces/${encodeURIComponent(body.iface_id)}`, body);
  }
  putVsock(body: Vsock): Promise<void> {
    return this.send("PUT", "/vsock", body);
  }
  instanceStart(): Promise<void> {
    return this.send("PUT", "/actions", { action_type: "InstanceStart" });
  }
  pause(): Promise<void> {
    return this.send("PATCH", "/vm", { state: "Paused" });
  }
  resume(): Promise<void> {
    return this.send("PATCH", "/vm", { state: "Resumed" });
  }
  createSnapshot(body: SnapshotCreateParams): Promise<void> {
    return this.send("PUT", "/snapshot/create", body);
  }
  loadSnapshot(body: SnapshotLoadParams): Promise<void> {
    return this.send("PUT", "/snapshot/load", body);
  }

  async describeInstance(): Promise<InstanceInfo> {
    const v = await this.get("/");
    const states: InstanceState[] = ["Not started", "Running", "Paused"];
    if (
      typeof v.app_name !== "string" ||
      typeof v.id !== "string" ||
      typeof v.vmm_version !== "string" ||
      !states.includes(v.state as InstanceState)
    )
      throw new FirecrackerApiError("GET", "/", 200, "the instance info does not match Firecracker's API");
    return { app_name: v.app_name, id: v.id, state: v.state as InstanceState, vmm_version: v.vmm_version };
  }

  async version(): Promise<string> {
    const v = await this.get("/version");
    if (typeof v.firecracker_version !== "string")
      throw new FirecrackerApiError("GET", "/version", 200, "no firecracker_version in the answer");
    return v.firecracker_version;
  }

  /** A PUT or PATCH without a typed wrapper (e.g. a resource this client does not model). */
  call(method: "PUT" | "PATCH", path: string, body: object): Promise<void> {
    return this.send(method, path, body);
  }

  private async send(method: "PUT" | "PATCH", path: string, body: object): Promise<void> {
    const r = await this.exchange(method, path, body);
    if (r.status !== 204) throw new FirecrackerApiError(method, path, r.status, faultOf(r.text));
  }

  private async get(path: string): Promise<Record<string, unknown>> {
    const r = await this.exchange("GET", path, undefined);
    if (r.status !== 200) throw new FirecrackerApiError("GET", path, r.status, faultOf(r.text));
    try {
      const v = JSON.parse(r.text) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw new FirecrackerApiError("GET", path, r.status, "the answer is not a JSON object");
  }

  /** One request on a fresh connection (Firecracker's server handles one client at a time anyway). */
  private exchange(
    method: string,
    path: string,
    body: object | undefined,
  ): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Accept: "application/json" };
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new FirecrackerApiError(method, path, res.statusCode, "the answer is too large"));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (e) => reject(wrapTransport(method, path, e)));
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(
          new FirecrackerApiError(method, path, undefined, `no answer within ${this.timeoutMs} ms`, {
            kind: "timeout",
          }),
        );
      });
      req.on("error", (e) => reject(wrapTransport(method, path, e)));
      req.end(payload);
    });
  }
}

function wrapTransport(method: string, path: string, e: Error): MvmError {
  if (e instanceof MvmError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === "ENOENT" || code === "ECONNREFUSED"
      ? "its API socket is not accepting connections (did the process exit?)"
      : code === "ECONNRESET" || code === "EPIPE"
        ? "the connection was closed before an answer (did the process exit?)"
        : e.message;
  return new FirecrackerApiError(method, path, undefined, why);
}

/** Firecracker's error body is `{"fault_message": "…"}`; fall back to the raw text, trimmed. */
function faultOf(text: string): string {
  try {
    const v = JSON.parse(text) as { fault_message?: unknown };
    if (typeof v?.fault_message === "string" && v.fault_message) return oneLine(v.fault_message);
  } catch {
    // not JSON
  }
  return text.trim() ? oneLine(text.trim()).slice(0, 500) : "(empty answer)";
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ");
}
