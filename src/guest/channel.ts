import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { MvmError } from "../core/errors.js";
import { sanitize } from "../core/untrusted-text.js";
import { sleep } from "../host/process.js";
import { connectUnixSocket } from "../host/unix-socket.js";

// Host side of the guest protocol (docs/guest-protocol.md): 4-byte big-endian length + JSON, one
// reply per request matched by id. The same client runs over a QEMU virtio-serial chardev socket
// and over Firecracker's vsock UDS (after its "CONNECT <port>" handshake). Replies to ids we are
// not waiting for (e.g. a request that timed out, or bytes the guest sent before a snapshot) are
// dropped, so a reconnect to a restored VM never mixes answers up.

export const MAX_FRAME = 256 * 1024;
export const AGENT_VSOCK_PORT = 52;

export interface Pong {
  protocol: number;
  agent: string;
  uptime_ms: number;
  agent_uptime_ms: number;
  hostname: string;
}

export type CheckStatus = "pending" | "starting" | "healthy" | "unhealthy";

export interface CheckHealth {
  name: string;
  healthy: boolean;
  status: CheckStatus;
  detail: string;
  /** Guest wall clock (RFC 3339); the guest may have no RTC, so prefer age_ms. */
  checked_at: string | null;
  age_ms: number | null;
  duration_ms: number | null;
  runs: number;
  interval_secs: number;
  timeout_secs: number;
  startup_grace_secs: number;
}

export interface HealthReport {
  /** Every check has passed its latest run (true when there are no checks). */
  ready: boolean;
  checks: CheckHealth[];
}

export interface ServiceState {
  name: string;
  running: boolean;
  pid: number;
  restarts: number;
  last_exit: string | null;
}

export interface PostRestoreRequest {
  /** Fresh random bytes for the guest RNG (16–4096; default 64 from the host's CSPRNG). */
  entropy?: Uint8Array;
  /** hostname: the whole new hostname; else hostnameSuffix is appended to the image's hostname. */
  identity?: { hostname?: string; hostnameSuffix?: string; machineId?: string };
  /** false: the guest keeps its services running (no SIGUSR1 to PID 1); default true. */
  restartServices?: boolean;
  /** The address the restored guest must use instead of the snapshot VM's (applied before services restart). */
  network?: GuestNetwork;
  /**
   * The host's wall clock (ms since the Unix epoch): the guest steps its clock to it first, so it
   * does not carry on from the moment the snapshot was taken. Omitted: the clock is left alone.
   */
  wallClockMs?: number;
}

/** An IPv4 address for one guest interface; the agent validates every field (docs/guest-protocol.md). */
export interface GuestNetwork {
  iface: string;
  /** With its prefix length, e.g. "10.213.0.6/30". */
  address: string;
  /** The default route's next hop; omitted: routes are left as they are. */
  gateway?: string;
}

export interface PostRestoreResult {
  reseeded_bytes: number;
  hostname: string;
  machine_id: string | null;
  signalled_init: boolean;
  /** How far the guest's clock was stepped (ms, positive: forwards), or null when no clock was sent. */
  clock_step_ms: number | null;
  /** What was applied, or null when the request carried no network. */
  network: { iface: string; address: string; gateway: string | null } | null;
}

export interface ChannelOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Keep retrying the connection (socket not there yet, refused) until this many ms have passed. */
  connectRetryMs?: number;
}

/** An error reply from the agent: `code` is one of the codes in docs/guest-protocol.md. */
export class GuestError extends MvmError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super("external", `guest agent: ${sanitize(message)} (${sanitize(code, 40)})`);
  }
}

/** A frame from the agent: JSON object with the id of the request it belongs to. */
export type GuestFrame = Record<string, unknown>;

interface Pending {
  type: string;
  resolve: (v: GuestFrame) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Streams: every frame before the last ("more": true). */
  onFrame?: (f: GuestFrame) => void;
}

/** A request whose answer is a stream of frames on its id (exec, attach, read, write, list). */
export interface GuestStream {
  readonly id: number;
  /** The last frame (resolves unless it says "ok": false, or the channel closes). */
  readonly done: Promise<GuestFrame>;
  /** Sends a frame that continues this stream (stdin, ack, data, end, resize, detach). */
  send(type: string, fields?: Record<string, unknown>): boolean;
  /** Resolves when the channel's socket can take more (after send returned false). */
  drained(): Promise<void>;
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  // Handles paths longer than sun_path (deep data dirs) through /proc/self/fd.
  return connectUnixSocket(path, timeoutMs);
}

async function connectWithRetry(path: string, retryMs: number, attemptTimeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      return await openSocket(path, attemptTimeoutMs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const retryable = code === "ENOENT" || code === "ECONNREFUSED" || code === "EAGAIN";
      if (!retryable || Date.now() >= deadline) {
        if (code === "ENOENT") throw new MvmError("not_found", `guest channel socket ${path} does not exist`);
        if (code === "ECONNREFUSED")
          throw new MvmError("network", `guest channel socket ${path} refused the connection`);
        throw e instanceof MvmError
          ? e
          : new MvmError("network", `cannot connect to ${path}: ${(e as Error).message}`);
      }
      await sleep(100);
    }
  }
}

/** Firecracker's host-initiated vsock: write "CONNECT <port>\n", expect "OK <host port>\n". */
function vsockHandshake(sock: Socket, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error, rest?: Buffer) => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("close", onClose);
      if (err) reject(err);
      else resolve(rest ?? Buffer.alloc(0));
    };
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > 64) done(new MvmError("network", "vsock handshake: no line from Firecracker"));
        return;
      }
      const line = buf.subarray(0, nl).toString("latin1");
      if (!line.startsWith("OK "))
        done(new MvmError("network", `vsock handshake refused: ${JSON.stringify(line)}`));
      else done(undefined, buf.subarray(nl + 1));
    };
    const onClose = () =>
      done(
        new MvmError(
          "network",
          `vsock handshake: connection closed (is the agent listening on port ${port}?)`,
        ),
      );
    const timer = setTimeout(() => done(new MvmError("timeout", "vsock handshake timed out")), timeoutMs);
    sock.on("data", onData);
    sock.on("close", onClose);
    sock.write(`CONNECT ${port}\n`);
  });
}

export class GuestChannel {
  private buf: Buffer = Buffer.alloc(0);
  private nextId = randomBytes(4).readUInt32BE(0) & 0x3fffffff;
  private pending = new Map<number, Pending>();
  private closed = false;
  private closeReason = "closed";

  private constructor(
    private readonly sock: Socket,
    private readonly timeoutMs: number,
    initial: Buffer = Buffer.alloc(0),
  ) {
    sock.on("data", (b: Buffer) => this.onData(b));
    sock.on("error", (e) => {
      this.closeReason = e.message;
    });
    sock.on("close", () =>
      this.failAll(new MvmError("network", `guest channel closed: ${this.closeReason}`)),
    );
    if (initial.length) this.onData(initial);
  }

  /** QEMU: the unix socket of a `-chardev socket,server=on` wired to the `org.mvm.agent` port. */
  static async connectUnix(path: string, opts: ChannelOptions = {}): Promise<GuestChannel> {
    const sock = await connectWithRetry(path, opts.connectRetryMs ?? 0, 5000);
    return new GuestChannel(sock, opts.timeoutMs ?? 10_000);
  }

  /** Firecracker: its vsock UDS, then the CONNECT handshake to the agent's port (52). */
  static async connectFirecrackerVsock(
    udsPath: string,
    port: number = AGENT_VSOCK_PORT,
    opts: ChannelOptions = {},
  ): Promise<GuestChannel> {
    const deadline = Date.now() + (opts.connectRetryMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      const sock = await connectWithRetry(udsPath, Math.max(0, deadline - Date.now()), 5000);
      try {
        const rest = await vsockHandshake(sock, port, 5000);
        return new GuestChannel(sock, opts.timeoutMs ?? 10_000, rest);
      } catch (e) {
        sock.destroy();
        // The guest may not listen yet (booting): retry while the caller allows it.
        if (Date.now() >= deadline && attempt >= 2) throw e;
        await sleep(500);
      }
    }
  }

  private onData(b: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (n === 0 || n > MAX_FRAME) {
        this.close(`guest sent a frame of ${n} bytes (limit ${MAX_FRAME})`);
        return;
      }
      if (this.buf.length < 4 + n) return;
      const body = this.buf.subarray(4, 4 + n).toString("utf8");
      this.buf = this.buf.subarray(4 + n);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(body) as Record<string, unknown>;
      } catch {
        continue; // not ours to answer; the request it belonged to will time out with a clear error
      }
      const id = typeof msg.id === "number" ? msg.id : undefined;
      const p = id === undefined ? undefined : this.pending.get(id);
      if (!p) continue;
      clearTimeout(p.timer);
      p.timer = undefined;
      if (msg.more === true && msg.ok !== false) {
        p.onFrame?.(msg);
        continue;
      }
      this.pending.delete(id!);
      if (msg.ok !== false) p.resolve(msg);
      else {
        const err = (msg.error ?? {}) as { code?: string; message?: string };
        p.reject(new GuestError(err.code ?? "unknown", err.message ?? "request failed"));
      }
    }
  }

  private failAll(e: Error): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
  }

  /** A frame ready to send; throws (before anything is sent or awaited) when it is too large. */
  private encodeFrame(obj: Record<string, unknown>): Buffer {
    const body = Buffer.from(JSON.stringify(obj), "utf8");
    if (body.length > MAX_FRAME)
      throw new MvmError("usage", `request of ${body.length} bytes exceeds ${MAX_FRAME}`);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    return Buffer.concat([header, body]);
  }

  private writeFrame(obj: Record<string, unknown>): boolean {
    return this.sock.write(this.encodeFrame(obj));
  }

  /**
   * Opens a stream: `onFrame` sees every frame before the last; `timeoutMs` bounds the wait for the
   * first one only (a command may run for as long as it likes once it has started).
   */
  openStream(
    type: string,
    fields: Record<string, unknown>,
    onFrame: (f: GuestFrame) => void,
    timeoutMs = this.timeoutMs,
  ): GuestStream {
    if (this.closed) throw new MvmError("network", `guest channel closed: ${this.closeReason}`);
    const id = this.nextId;
    const first = this.encodeFrame({ ...fields, id, type });
    this.nextId = (this.nextId + 1) >>> 0;
    let resolveDone: (f: GuestFrame) => void = () => {};
    let rejectDone: (e: Error) => void = () => {};
    const done = new Promise<GuestFrame>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    const timer = setTimeout(() => {
      this.pending.delete(id);
      rejectDone(new MvmError("timeout", `guest agent did not answer "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    this.pending.set(id, { type, resolve: resolveDone, reject: rejectDone, timer, onFrame });
    this.sock.write(first);
    return {
      id,
      done,
      send: (t, f = {}) => (this.closed ? false : this.writeFrame({ ...f, id, type: t })),
      drained: () =>
        this.closed || !this.sock.writableNeedDrain
          ? Promise.resolve()
          : new Promise<void>((res) => {
              const go = () => {
                this.sock.off("drain", go);
                this.sock.off("close", go);
                res();
              };
              this.sock.on("drain", go);
              this.sock.on("close", go);
            }),
    };
  }

  /** Sends one request and waits for its reply. */
  async request(
    type: string,
    fields: Record<string, unknown> = {},
    timeoutMs = this.timeoutMs,
  ): Promise<Record<string, unknown>> {
    if (this.closed) throw new MvmError("network", `guest channel closed: ${this.closeReason}`);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const body = Buffer.from(JSON.stringify({ ...fields, id, type }), "utf8");
    if (body.length > MAX_FRAME)
      throw new MvmError("usage", `request of ${body.length} bytes exceeds ${MAX_FRAME}`);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MvmError("timeout", `guest agent did not answer "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { type, resolve, reject, timer });
      this.sock.write(Buffer.concat([header, body]));
    });
  }

  async ping(opts: { timeoutMs?: number } = {}): Promise<Pong> {
    return (await this.request("ping", {}, opts.timeoutMs)) as unknown as Pong;
  }

  /** `fresh: true` runs every check now and answers once they have all finished. */
  async health(opts: { fresh?: boolean; timeoutMs?: number } = {}): Promise<HealthReport> {
    const r = await this.request("health", opts.fresh ? { fresh: true } : {}, opts.timeoutMs);
    return { ready: r.ready === true, checks: (r.checks ?? []) as CheckHealth[] };
  }

  async services(opts: { timeoutMs?: number } = {}): Promise<ServiceState[]> {
    const r = await this.request("services", {}, opts.timeoutMs);
    return (r.services ?? []) as ServiceState[];
  }

  async postRestore(
    req: PostRestoreRequest = {},
    opts: { timeoutMs?: number } = {},
  ): Promise<PostRestoreResult> {
    const entropy = req.entropy ?? randomBytes(64);
    if (entropy.length < 16 || entropy.length > 4096)
      throw new MvmError("usage", "post-restore entropy must be 16 to 4096 bytes");
    const identity: Record<string, string> = {};
    if (req.identity?.hostname !== undefined) identity.hostname = req.identity.hostname;
    if (req.identity?.hostnameSuffix !== undefined) identity.hostname_suffix = req.identity.hostnameSuffix;
    if (req.identity?.machineId !== undefined) identity.machine_id = req.identity.machineId;
    const r = await this.request(
      "post_restore",
      {
        entropy: Buffer.from(entropy).toString("base64"),
        identity,
        ...(req.restartServices === false ? { restart_services: false } : {}),
        ...(req.wallClockMs !== undefined ? { wall_clock_ms: Math.round(req.wallClockMs) } : {}),
        ...(req.network
          ? {
              network: {
                iface: req.network.iface,
                address: req.network.address,
                ...(req.network.gateway !== undefined ? { gateway: req.network.gateway } : {}),
              },
            }
          : {}),
      },
      opts.timeoutMs,
    );
    return r as unknown as PostRestoreResult;
  }

  /** Asks PID 1 to stop services and power off (SIGTERM to init). */
  async shutdown(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.request("shutdown", {}, opts.timeoutMs);
  }

  /**
   * Pings until the agent answers (it may still be booting, or the host may have connected before
   * the guest opened its port), each attempt with a short timeout.
   */
  async waitForAgent(timeoutMs: number, attemptMs = 1000): Promise<Pong> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.ping({ timeoutMs: Math.min(attemptMs, Math.max(1, deadline - Date.now())) });
      } catch (e) {
        if (!(e instanceof MvmError) || e.kind !== "timeout" || Date.now() >= deadline) throw e;
      }
    }
  }

  close(reason = "closed by host"): void {
    this.closeReason = reason;
    this.sock.destroy();
    this.failAll(new MvmError("network", `guest channel closed: ${reason}`));
  }
}

/**
 * Fresh identity for a restored VM: a new machine id, and its name as hostname (underscores become
 * dashes) so each VM restored from one snapshot is told apart; a name that cannot be a hostname gets
 * the image's hostname with an 8-character random suffix instead.
 */
export function freshIdentity(vmName?: string): {
  hostname?: string;
  hostnameSuffix?: string;
  machineId: string;
} {
  const machineId = randomBytes(16).toString("hex");
  const host = (vmName ?? "").replace(/_/g, "-").replace(/-+$/, "").slice(0, 63);
  if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(host)) return { hostname: host, machineId };
  return { hostnameSuffix: randomBytes(4).toString("hex"), machineId };
}
