import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type EnvdTarget, isEnvdRequest, serveEnvd } from "../../src/e2b/envd/index.js";

// A small HTTP server that hands envd requests to serveEnvd for one sandbox, and a client speaking
// Connect's JSON encoding the way E2B's SDK does (unary JSON bodies, enveloped server streams).

export async function startEnvdServer(target: EnvdTarget): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (!isEnvdRequest(req)) {
      req.resume();
      res.writeHead(400).end("not an envd request");
      return;
    }
    void serveEnvd(req, res, target);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

export function basicUser(user: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}` };
}

export class EnvdClient {
  constructor(
    readonly url: string,
    readonly sandboxId: string,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { "e2b-sandbox-id": this.sandboxId, "e2b-sandbox-port": "49983", ...extra };
  }

  async unary(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const r = await fetch(`${this.url}/${path}`, {
      method: "POST",
      headers: this.headers({
        "content-type": "application/json",
        "connect-protocol-version": "1",
        ...headers,
      }),
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  }

  /** A server-streaming call: its messages, then the end-of-stream message. */
  stream(
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): EnvelopeStream {
    const payload = Buffer.from(JSON.stringify(body));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(payload.length, 1);
    const response = fetch(`${this.url}/${path}`, {
      method: "POST",
      headers: this.headers({
        "content-type": "application/connect+json",
        "connect-protocol-version": "1",
        ...headers,
      }),
      body: Buffer.concat([head, payload]),
      ...(signal ? { signal } : {}),
    });
    return new EnvelopeStream(response);
  }
}

export interface Envelope {
  end: boolean;
  json: Record<string, unknown>;
}

export class EnvelopeStream {
  private buf = Buffer.alloc(0);
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(readonly response: Promise<Response>) {}

  async next(): Promise<Envelope | undefined> {
    if (!this.reader) {
      const r = await this.response;
      if (r.status !== 200) throw new Error(`stream answered HTTP ${r.status}`);
      this.reader = (r.body as ReadableStream<Uint8Array>).getReader();
    }
    for (;;) {
      if (this.buf.length >= 5) {
        const len = this.buf.readUInt32BE(1);
        if (this.buf.length >= 5 + len) {
          const env = {
            end: ((this.buf[0] as number) & 2) !== 0,
            json: JSON.parse(this.buf.subarray(5, 5 + len).toString("utf8")) as Record<string, unknown>,
          };
          this.buf = this.buf.subarray(5 + len);
          return env;
        }
      }
      const { value, done } = await this.reader.read();
      if (done) return undefined;
      this.buf = Buffer.concat([this.buf, Buffer.from(value)]);
    }
  }

  /** Every message up to the end of the stream. */
  async all(): Promise<Envelope[]> {
    const out: Envelope[] = [];
    for (let e = await this.next(); e; e = await this.next()) {
      out.push(e);
      if (e.end) break;
    }
    return out;
  }
}

type Ev = { start?: { pid: number }; data?: Record<string, string>; end?: Record<string, unknown> };

/** Output and end of a process stream's messages. */
export function summarize(envs: Envelope[]): {
  pid: number | undefined;
  stdout: string;
  stderr: string;
  end: Record<string, unknown> | undefined;
  error: { code: string; message: string } | undefined;
} {
  let stdout = "";
  let stderr = "";
  let pid: number | undefined;
  let end: Record<string, unknown> | undefined;
  let error: { code: string; message: string } | undefined;
  for (const e of envs) {
    if (e.end) {
      error = e.json.error as typeof error;
      continue;
    }
    const ev = e.json.event as Ev;
    if (ev.start) pid = ev.start.pid;
    if (ev.data?.stdout) stdout += Buffer.from(ev.data.stdout, "base64").toString();
    if (ev.data?.stderr) stderr += Buffer.from(ev.data.stderr, "base64").toString();
    if (ev.end) end = ev.end;
  }
  return { pid, stdout, stderr, end, error };
}

/** The pid of a stream's start event (fails the test on anything else). */
export function startPid(e: Envelope | undefined): number {
  const pid = (e?.json.event as Ev | undefined)?.start?.pid;
  if (typeof pid !== "number") throw new Error(`expected a start event, got ${JSON.stringify(e?.json)}`);
  return pid;
}

/** The stdout bytes of a data event, as text. */
export function stdoutOf(e: Envelope | undefined): string {
  const d = (e?.json.event as Ev | undefined)?.data?.stdout;
  if (typeof d !== "string") throw new Error(`expected stdout data, got ${JSON.stringify(e?.json)}`);
  return Buffer.from(d, "base64").toString();
}
