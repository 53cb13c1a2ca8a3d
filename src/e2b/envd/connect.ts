import type { IncomingMessage, ServerResponse } from "node:http";

// The Connect protocol (connectrpc.com/docs/protocol) as E2B's SDK speaks it: JSON encoding only.
// Unary calls are a plain JSON body answered by a JSON body, or by an HTTP error status with
// {code, message}. Streaming calls frame every message in an envelope (one flags byte, a 4-byte
// big-endian length, the JSON); the server's last envelope has flag 0x02 and holds {} or {error}.

export type ConnectCode =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";

const HTTP_STATUS: Record<ConnectCode, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};

export class ConnectError extends Error {
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
    this.name = "ConnectError";
  }
}

/** Largest unary request body, and largest message in a request stream. */
export const MAX_MESSAGE = 4 * 1024 * 1024;

const FLAG_COMPRESSED = 0x01;
const FLAG_END_STREAM = 0x02;

function parseJsonObject(bytes: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ConnectError("invalid_argument", "the request message is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ConnectError("invalid_argument", "the request message must be a JSON object");
  return v as Record<string, unknown>;
}

function checkEncoding(req: IncomingMessage, header: string): void {
  const enc = req.headers[header];
  if (enc !== undefined && enc !== "identity")
    throw new ConnectError("unimplemented", `compression ${String(enc).slice(0, 40)} is not supported`);
}

/** The body of a unary call (Content-Type application/json), bounded. */
export async function readUnary(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type))
    throw new ConnectError("unimplemented", "only the Connect protocol's JSON encoding is served");
  checkEncoding(req, "content-encoding");
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > MAX_MESSAGE)
    throw new ConnectError("resource_exhausted", `the request message exceeds ${MAX_MESSAGE} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_MESSAGE) {
      req.resume();
      throw new ConnectError("resource_exhausted", `the request message exceeds ${MAX_MESSAGE} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return size === 0 ? {} : parseJsonObject(Buffer.concat(chunks));
}

/** The messages of a streaming request (Content-Type application/connect+json), each bounded. */
export async function* readEnvelopes(req: IncomingMessage): AsyncGenerator<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/connect\+json\b/i.test(type))
    throw new ConnectError("unimplemented", "only the Connect protocol's JSON encoding is served");
  checkEncoding(req, "connect-content-encoding");
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of req) {
    buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
    while (buf.length >= 5) {
      const flags = buf[0] as number;
      const len = buf.readUInt32BE(1);
      if (len > MAX_MESSAGE)
        throw new ConnectError("resource_exhausted", `a request message exceeds ${MAX_MESSAGE} bytes`);
      if (flags & FLAG_COMPRESSED)
        throw new ConnectError("unimplemented", "compressed messages are not supported");
      if (buf.length < 5 + len) break;
      const body = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      if (flags & FLAG_END_STREAM) return;
      yield len === 0 ? {} : parseJsonObject(body);
    }
  }
  if (buf.length > 0) throw new ConnectError("invalid_argument", "the request stream ended inside a message");
}

/** The single message of a server-streaming request. */
export async function readStreamRequest(req: IncomingMessage): Promise<Record<string, unknown>> {
  let first: Record<string, unknown> | undefined;
  for await (const m of readEnvelopes(req)) {
    if (first) throw new ConnectError("invalid_argument", "this call takes exactly one request message");
    first = m;
  }
  if (!first) throw new ConnectError("invalid_argument", "the request stream holds no message");
  return first;
}

export function sendUnary(res: ServerResponse, message: unknown): void {
  const text = JSON.stringify(message);
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendUnaryError(res: ServerResponse, e: ConnectError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ code: e.code, message: e.message });
  res.writeHead(HTTP_STATUS[e.code], {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function envelope(flags: number, message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * A server-streaming response. Messages are written as they come; `send` resolves once the socket
 * took the bytes, so a slow client slows the producer. `end` writes the end-of-stream envelope.
 */
export class ConnectStream {
  private ended = false;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(private readonly res: ServerResponse) {}

  get closed(): boolean {
    return this.ended || this.res.destroyed || this.res.writableEnded;
  }

  private open(): void {
    if (!this.res.headersSent)
      this.res.writeHead(200, { "content-type": "application/connect+json", "cache-control": "no-store" });
  }

  send(message: unknown): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.open();
    return new Promise((resolve) => {
      this.res.write(envelope(0, message), () => resolve());
    });
  }

  /** Sends `message` every `seconds` while the stream is open (the client asked for pings). */
  keepAlive(seconds: number | undefined, message: unknown): void {
    if (!seconds) return;
    this.keepalive = setInterval(() => void this.send(message), seconds * 1000);
    this.keepalive.unref();
  }

  end(error?: ConnectError): void {
    if (this.closed) return;
    clearInterval(this.keepalive);
    this.ended = true;
    this.open();
    this.res.end(
      envelope(FLAG_END_STREAM, error ? { error: { code: error.code, message: error.message } } : {}),
    );
  }

  stop(): void {
    clearInterval(this.keepalive);
    this.ended = true;
  }
}

/** Connect-Timeout-Ms, when the client set one (at most 10 digits, as the protocol allows). */
export function requestTimeoutMs(req: IncomingMessage): number | undefined {
  const v = req.headers["connect-timeout-ms"];
  if (typeof v !== "string" || !/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n > 0 ? n : undefined;
}

/** E2B's Keepalive-Ping-Interval (seconds), bounded to 1..3600. */
export function keepaliveSeconds(req: IncomingMessage): number | undefined {
  const v = req.headers["keepalive-ping-interval"];
  if (typeof v !== "string" || !/^\d{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n > 0 ? Math.min(n, 3600) : undefined;
}
