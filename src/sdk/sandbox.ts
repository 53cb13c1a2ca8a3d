import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { MvmError } from "./errors.js";
import { type Call, callJson, type Endpoint, send } from "./transport.js";
import type { ExecFrame, ExecResult, FileEntry, FileStat, VmInfo } from "./types.js";

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /**
   * The command's standard input: text (sent with the request), or chunks streamed to the command
   * as they are produced (end of the iterable = end of input).
   */
  stdin?: string | AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

function execRequest(argv: string[], o: ExecOptions): Record<string, unknown> {
  return {
    argv,
    ...(o.env ? { env: o.env } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.user ? { user: o.user } : {}),
    ...(typeof o.stdin === "string" ? { stdin: o.stdin } : {}),
    ...(o.timeoutMs ? { timeout_ms: o.timeoutMs } : {}),
  };
}

/** A streamed exec request: the request object, then one {"stdin"} line per chunk, then {"eof"}. */
async function* streamedRequest(
  first: Record<string, unknown>,
  input: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
): AsyncGenerator<Buffer> {
  yield Buffer.from(`${JSON.stringify(first)}\n`);
  for await (const chunk of input) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk);
    // Lines of at most 512 KiB of data, well inside the daemon's line bound once encoded.
    for (let at = 0; at < buf.length; at += 512 * 1024)
      yield Buffer.from(
        `${JSON.stringify({ stdin: buf.subarray(at, at + 512 * 1024).toString("base64") })}\n`,
      );
  }
  yield Buffer.from(`${JSON.stringify({ eof: true })}\n`);
}

/** The request part of an exec call: a JSON body, or a streamed NDJSON one when stdin is an iterable. */
export function execBody(argv: string[], o: ExecOptions): Pick<Call, "json" | "body" | "contentType"> {
  const first = execRequest(argv, o);
  if (o.stdin === undefined || typeof o.stdin === "string") return { json: first };
  return { body: Readable.from(streamedRequest(first, o.stdin)), contentType: "application/x-ndjson" };
}

/** NDJSON lines of a streaming exec, each bounded. */
export async function* frames(res: IncomingMessage): AsyncGenerator<ExecFrame> {
  let buf = "";
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString("utf8");
    if (buf.length > 1024 * 1024 && !buf.includes("\n")) {
      res.destroy();
      throw new MvmError("bad_response", "an exec frame is too large", res.statusCode ?? 0);
    }
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      if (!line) continue;
      const f = JSON.parse(line) as Record<string, unknown>;
      // The connection to the guest failed after output had begun.
      if (f.type === "error")
        throw new MvmError(
          String(f.code ?? "bad_response"),
          String(f.message ?? "exec failed"),
          res.statusCode ?? 0,
        );
      if ((f.type === "stdout" || f.type === "stderr") && typeof f.data === "string")
        yield { type: f.type, data: Buffer.from(f.data, "base64") };
      else yield f as ExecFrame;
    }
  }
}

export interface LogsOptions {
  /** Keep the request open and yield new output until the VM is gone. */
  follow?: boolean;
  signal?: AbortSignal;
}

/** A VM's console output from GET /v1/vms/{name}/logs, chunk by chunk. */
export async function* consoleLogs(
  endpoint: Endpoint,
  name: string,
  opts: LogsOptions = {},
): AsyncGenerator<Buffer> {
  const res = await send(endpoint, {
    method: "GET",
    path: `/v1/vms/${encodeURIComponent(name)}/logs`,
    query: opts.follow ? { follow: "true" } : {},
    accept: "application/octet-stream",
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    for await (const chunk of res) yield chunk as Buffer;
  } catch (e) {
    if (opts.signal?.aborted) throw new MvmError("aborted", "the request was aborted", 0, { cause: e });
    throw new MvmError("connection_failed", "the daemon ended the log stream early", res.statusCode ?? 0, {
      cause: e,
    });
  } finally {
    res.destroy();
  }
}

/** A running VM (sandbox) on a daemon. `await using vm = …` stops it when the scope ends. */
export class Sandbox {
  constructor(
    private readonly endpoint: Endpoint,
    public info: VmInfo,
  ) {}

  get name(): string {
    return this.info.name;
  }

  private path(suffix = ""): string {
    return `/v1/vms/${encodeURIComponent(this.info.name)}${suffix}`;
  }

  private call<T>(c: Omit<Call, "path"> & { suffix?: string }): Promise<T> {
    return callJson<T>(this.endpoint, { ...c, path: this.path(c.suffix) });
  }

  /** Runs a command and returns its exit status and output (each stream capped by the daemon). */
  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.call<ExecResult>({
      method: "POST",
      suffix: "/exec",
      ...execBody(argv, opts),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /**
   * Runs a command and yields its output as it arrives, ending with its `exit` frame; throws
   * MvmError if the guest connection fails midway.
   */
  async *execStream(argv: string[], opts: ExecOptions = {}): AsyncGenerator<ExecFrame> {
    const res = await send(this.endpoint, {
      method: "POST",
      path: this.path("/exec"),
      ...execBody(argv, opts),
      accept: "application/x-ndjson",
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    yield* frames(res);
  }

  readonly files = {
    /** Replaces a guest file with `data` (atomically, once all of it arrived). Returns bytes written. */
    write: async (
      path: string,
      data: string | Buffer | Readable,
      opts: { mode?: number; parents?: boolean } = {},
    ): Promise<number> => {
      const body = typeof data === "string" ? Buffer.from(data) : data;
      const r = await this.call<{ bytes: number }>({
        method: "PUT",
        suffix: "/files",
        query: {
          path,
          ...(opts.mode !== undefined ? { mode: String(opts.mode) } : {}),
          ...(opts.parents ? { parents: "true" } : {}),
        },
        body,
      });
      return r.bytes;
    },
    /** A guest file's content, as a stream. */
    readStream: async (path: string): Promise<Readable> =>
      send(this.endpoint, { method: "GET", path: this.path("/files"), query: { path }, accept: "*/*" }),
    /** A guest file's content. */
    read: async (path: string): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of await this.files.readStream(path)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    stat: (path: string): Promise<FileStat> =>
      this.call({ method: "GET", suffix: "/files/stat", query: { path } }),
    list: async (path: string, opts: { depth?: number } = {}): Promise<FileEntry[]> =>
      (
        await this.call<{ entries: FileEntry[] }>({
          method: "GET",
          suffix: "/files/list",
          query: { path, ...(opts.depth ? { depth: String(opts.depth) } : {}) },
        })
      ).entries,
    /** Makes a guest directory (with `mode`; its missing parents too with `parents`). */
    mkdir: async (path: string, opts: { mode?: number; parents?: boolean } = {}): Promise<void> => {
      await send(this.endpoint, {
        method: "POST",
        path: this.path("/files/mkdir"),
        query: {
          path,
          ...(opts.mode !== undefined ? { mode: String(opts.mode) } : {}),
          ...(opts.parents ? { parents: "true" } : {}),
        },
      }).then((r) => r.resume());
    },
    /** Renames a guest file or directory (replacing `to` as rename(2) does). */
    rename: async (from: string, to: string): Promise<void> => {
      await send(this.endpoint, {
        method: "POST",
        path: this.path("/files/rename"),
        query: { path: from, to },
      }).then((r) => r.resume());
    },
    remove: async (path: string, opts: { recursive?: boolean } = {}): Promise<void> => {
      await send(this.endpoint, {
        method: "DELETE",
        path: this.path("/files"),
        query: { path, ...(opts.recursive ? { recursive: "true" } : {}) },
      }).then((r) => r.resume());
    },
  };

  /**
   * The VM's console output as the guest wrote it (escape sequences and all), in chunks: what the
   * log holds now, then, with `follow`, new output as it comes until the VM is gone. Ending the loop
   * early (or `signal`) closes the request, and the daemon stops reading.
   */
  logs(opts: LogsOptions = {}): AsyncGenerator<Buffer> {
    return consoleLogs(this.endpoint, this.name, opts);
  }

  /** The host URL that reaches `guestPort` (forwarded with `ports` at start). */
  url(guestPort: number): string {
    const p = this.info.ports.find((x) => x.guest === guestPort);
    if (!p)
      throw new MvmError("invalid_argument", `guest port ${guestPort} is not forwarded for ${this.name}`);
    const host = p.host_address === "0.0.0.0" ? "127.0.0.1" : p.host_address;
    return `http://${host}:${p.host}`;
  }

  /** Fresh information from the daemon. */
  async refresh(): Promise<VmInfo> {
    this.info = await this.call<VmInfo>({ method: "GET" });
    return this.info;
  }

  /**
   * Stops the VM's vCPUs; its memory stays allocated and exec/files answer `vm_paused` until
   * `resume()`. A backend that cannot pause answers `pause_unsupported`.
   */
  async pause(): Promise<VmInfo> {
    this.info = await this.call<VmInfo>({ method: "POST", suffix: "/pause" });
    return this.info;
  }

  /** Lets a paused VM run again where it left off. */
  async resume(): Promise<VmInfo> {
    this.info = await this.call<VmInfo>({ method: "POST", suffix: "/resume" });
    return this.info;
  }

  /** Sets the time left before the daemon stops this VM (null: no TTL). */
  async setTtl(ttlMs: number | null): Promise<VmInfo> {
    this.info = await this.call<VmInfo>({ method: "PUT", suffix: "/ttl", json: { ttl_ms: ttlMs } });
    return this.info;
  }

  /** Stops the VM and removes its files; stopping one already gone is not an error. */
  async stop(): Promise<void> {
    try {
      await send(this.endpoint, { method: "DELETE", path: this.path() }).then((r) => r.resume());
    } catch (e) {
      if (!(e instanceof MvmError && e.code === "vm_not_found")) throw e;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
