import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { CLI } from "./cli.js";

// A real `mvmctl serve` process for tests, and a plain HTTP client for its API.

export interface TestDaemon {
  child: ChildProcess;
  socket: string;
  port: number | undefined;
  apiKey: string | undefined;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startTestDaemon(
  dataDir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<TestDaemon> {
  const child = spawn(process.execPath, [CLI, "serve", "--json", ...args], {
    env: { ...process.env, NO_COLOR: "1", MVM_DATA_DIR: dataDir, MVM_QEMU_ACCEL: "tcg", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const first = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    void exited.then((code) => reject(new Error(`mvmctl serve exited (${code}): ${err}`)));
  });
  const ready = JSON.parse(first) as { socket: string; listen: string | null; api_key?: string };
  return {
    child,
    socket: ready.socket,
    port: ready.listen ? Number(ready.listen.split(":").pop()) : undefined,
    apiKey: ready.api_key,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => Record<string, unknown>;
}

export function http(
  to: { socket: string } | { port: number },
  method: string,
  path: string,
  opts: { json?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.json !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.json));
      headers["content-type"] ??= "application/json";
    } else if (opts.raw !== undefined) payload = Buffer.from(opts.raw);
    if (payload) headers["content-length"] = String(payload.length);
    const where = "socket" in to ? { socketPath: to.socket } : { host: "127.0.0.1", port: to.port };
    const req = request({ ...where, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body.toString("utf8")) as Record<string, unknown>,
        });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** The {code} of an API error answer. */
export function errorCode(a: HttpAnswer): string {
  return ((a.json().error ?? {}) as { code?: string }).code ?? `(no error code; HTTP ${a.status})`;
}
