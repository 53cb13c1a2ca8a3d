import { type IncomingMessage, request } from "node:http";
import type { Readable } from "node:stream";
import { MvmError } from "./errors.js";

// One HTTP exchange with the daemon, over its unix socket or TCP (with the API key as a bearer
// token). Error answers become MvmError with the API's code; error bodies are read with a bound.

export type Endpoint = { socket: string } | { url: string; apiKey: string };

export interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  query?: Record<string, string | string[] | undefined>;
  json?: unknown;
  body?: Readable | Buffer;
  /** Content type of `body` (default application/octet-stream). */
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

const MAX_JSON_ANSWER = 64 * 1024 * 1024;

function target(endpoint: Endpoint, call: Call) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(call.query ?? {}))
    for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) q.append(k, one);
  const path = `${call.path}${q.size > 0 ? `?${q}` : ""}`;
  if ("socket" in endpoint)
    return { socketPath: endpoint.socket, path, headers: {} as Record<string, string> };
  const u = new URL(endpoint.url);
  if (u.protocol !== "http:")
    throw new MvmError("invalid_argument", `unsupported URL ${u.protocol} (use http:)`);
  return {
    host: u.hostname,
    port: u.port || 80,
    path,
    headers: { authorization: `Bearer ${endpoint.apiKey}` } as Record<string, string>,
  };
}

/** Sends a request and resolves with the response once its status is 2xx; otherwise throws. */
export function send(endpoint: Endpoint, call: Call): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (call.signal?.aborted) return reject(new MvmError("aborted", "the request was aborted"));
    const t = target(endpoint, call);
    const headers = { ...t.headers, accept: call.accept ?? "application/json" };
    let payload: Buffer | Readable | undefined = call.body;
    if (call.json !== undefined) {
      payload = Buffer.from(JSON.stringify(call.json));
      Object.assign(headers, {
        "content-type": "application/json",
        "content-length": String(payload.length),
      });
    } else if (Buffer.isBuffer(payload)) Object.assign(headers, { "content-length": String(payload.length) });
    if (payload !== undefined && call.json === undefined)
      Object.assign(headers, { "content-type": call.contentType ?? "application/octet-stream" });
    const req = request({
      ...t,
      method: call.method,
      headers,
      ...(call.signal ? { signal: call.signal } : {}),
    });
    req.on("error", (e: NodeJS.ErrnoException) => {
      if (e.name === "AbortError")
        reject(new MvmError("aborted", "the request was aborted", 0, { cause: e }));
      else
        reject(
          new MvmError("connection_failed", `cannot reach the mvmctl daemon: ${e.message}`, 0, { cause: e }),
        );
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return resolve(res);
      readJson(res)
        .then((body) => {
          const err = (body as { error?: { code?: unknown; message?: unknown } }).error;
          reject(
            new MvmError(
              typeof err?.code === "string" ? err.code : "bad_response",
              typeof err?.message === "string" ? err.message : `HTTP ${status}`,
              status,
            ),
          );
        })
        .catch(reject);
    });
    if (payload === undefined) req.end();
    else if (Buffer.isBuffer(payload)) req.end(payload);
    else {
      payload.on("error", (e) => req.destroy(e));
      payload.pipe(req);
    }
  });
}

/** A JSON answer, bounded. */
export async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > MAX_JSON_ANSWER) {
      res.destroy();
      throw new MvmError("bad_response", "the daemon's answer is too large", res.statusCode ?? 0);
    }
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new MvmError("bad_response", "the daemon's answer is not JSON", res.statusCode ?? 0);
  }
}

export async function callJson<T>(endpoint: Endpoint, call: Call): Promise<T> {
  return (await readJson(await send(endpoint, call))) as T;
}
