import { existsSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { MAX_FRAME } from "./channel.js";
import { sleep } from "../host/process.js";
import { connectUnixSocket, listenUnixSocket } from "../host/unix-socket.js";

// QEMU gives a VM one virtio-serial stream to its agent, and its chardev takes one host connection
// at a time. The process that owns the VM (its keeper, or the daemon) holds that connection and serves a unix
// socket in the VM directory instead: every client (`mvmctl exec`, `cp`, readiness checks, the
// daemon) connects there and speaks the same protocol. The multiplexer gives each client request
// an id of its own on the guest stream and maps the guest's frames back; frames that continue a
// stream (ack, stdin, data, end...) follow the id of the request that opened it. When a client goes
// away its open streams are detached in the guest: processes keep running, transfers are dropped.

/** Frame types that continue a stream the client opened earlier (they open nothing themselves). */
const CONTINUATIONS = new Set(["ack", "stdin", "close_stdin", "resize", "data", "end", "detach"]);
/** Bytes waiting for the guest above which clients are not read from until it catches up. */
const UPSTREAM_HIGH_WATER = 1024 * 1024;

interface Client {
  sock: Socket;
  buf: Buffer;
  /** Client id → guest id, for requests and streams still open. */
  open: Map<number, number>;
}

interface Route {
  client: Client;
  id: number;
}

function encode(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj), "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Splits complete frames off `buf`; undefined when a length prefix is outside 1..MAX_FRAME. */
function takeFrames(buf: Buffer): { frames: Buffer[]; rest: Buffer } | undefined {
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const n = buf.readUInt32BE(off);
    if (n === 0 || n > MAX_FRAME) return undefined;
    if (buf.length - off < 4 + n) break;
    frames.push(buf.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  return { frames, rest: buf.subarray(off) };
}

export class GuestMux {
  private server: Server | undefined;
  private upstream: Socket | undefined;
  private upBuf: Buffer = Buffer.alloc(0);
  /** Frames for the guest written before the upstream connection exists. */
  private backlog: Buffer[] = [];
  private readonly clients = new Set<Client>();
  private readonly routes = new Map<number, Route>();
  private nextId = 1;
  private stopped = false;
  private paused = false;

  constructor(
    /** Where clients connect (relative to the process's cwd is fine). */
    private readonly listenPath: string,
    /** The QEMU chardev socket of the agent's port. */
    private readonly agentPath: string,
  ) {}

  async start(): Promise<void> {
    if (existsSync(this.listenPath)) unlinkSync(this.listenPath);
    this.server = createServer((s) => this.accept(s));
    await listenUnixSocket(this.server, this.listenPath);
    void this.connectUpstream();
  }

  stop(): void {
    this.stopped = true;
    this.server?.close();
    this.upstream?.destroy();
    for (const c of this.clients) c.sock.destroy();
  }

  private async connectUpstream(): Promise<void> {
    while (!this.stopped) {
      try {
        const s = await connectUnixSocket(this.agentPath, 2000);
        if (this.stopped) {
          s.destroy();
          return;
        }
        this.upstream = s;
        this.upBuf = Buffer.alloc(0);
        s.on("data", (d: Buffer) => this.fromGuest(d));
        s.on("drain", () => this.resumeClients());
        s.on("error", () => {});
        s.on("close", () => this.upstreamLost());
        for (const f of this.backlog.splice(0)) s.write(f);
        return;
      } catch {
        await sleep(100);
      }
    }
  }

  /** The guest stream broke: nothing open on it will finish, so every waiting client is told. */
  private upstreamLost(): void {
    this.upstream = undefined;
    for (const [, r] of this.routes)
      this.toClient(r.client, {
        id: r.id,
        ok: false,
        error: { code: "channel_lost", message: "the connection to the guest agent was reset" },
      });
    this.routes.clear();
    for (const c of this.clients) c.open.clear();
    if (!this.stopped) setTimeout(() => void this.connectUpstream(), 100);
  }

  private toGuest(frame: Buffer): void {
    if (!this.upstream) {
      this.backlog.push(frame);
      return;
    }
    this.upstream.write(frame);
    if (this.upstream.writableLength > UPSTREAM_HIGH_WATER && !this.paused) {
      this.paused = true;
      for (const c of this.clients) c.sock.pause();
    }
  }

  private resumeClients(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const c of this.clients) c.sock.resume();
  }

  private toClient(c: Client, obj: unknown): void {
    if (!c.sock.destroyed) c.sock.write(encode(obj));
  }

  private refuse(c: Client, id: number | null, code: string, message: string): void {
    this.toClient(c, { id, ok: false, error: { code, message } });
  }

  private accept(sock: Socket): void {
    const c: Client = { sock, buf: Buffer.alloc(0), open: new Map() };
    this.clients.add(c);
    if (this.paused) sock.pause();
    sock.on("data", (d: Buffer) => this.fromClient(c, d));
    sock.on("error", () => {});
    sock.on("close", () => this.clientGone(c));
  }

  private clientGone(c: Client): void {
    this.clients.delete(c);
    for (const [, guestId] of c.open) {
      this.routes.delete(guestId);
      this.toGuest(encode({ id: guestId, type: "detach" }));
    }
    c.open.clear();
  }

  private fromClient(c: Client, d: Buffer): void {
    c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
    const split = takeFrames(c.buf);
    if (!split) {
      this.toClient(c, {
        id: null,
        ok: false,
        error: { code: "frame_too_large", message: `frame length outside 1..${MAX_FRAME}` },
      });
      c.sock.end();
      c.buf = Buffer.alloc(0);
      return;
    }
    c.buf = split.rest;
    for (const body of split.frames) this.clientFrame(c, body);
  }

  private clientFrame(c: Client, body: Buffer): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    } catch {
      this.refuse(c, null, "bad_json", "request is not valid JSON");
      return;
    }
    const id = msg?.id;
    if (
      typeof msg !== "object" ||
      msg === null ||
      typeof id !== "number" ||
      !Number.isInteger(id) ||
      id < 0 ||
      id > 0xffffffff
    ) {
      this.refuse(c, null, "bad_request", 'request must be an object with an integer "id" from 0 to 2^32-1');
      return;
    }
    const type = typeof msg.type === "string" ? msg.type : "";
    let guestId = c.open.get(id);
    if (guestId === undefined) {
      // A continuation of something already finished: the guest would ignore it too.
      if (CONTINUATIONS.has(type)) return;
      guestId = this.nextId;
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
      c.open.set(id, guestId);
      this.routes.set(guestId, { client: c, id });
    } else if (!CONTINUATIONS.has(type)) {
      this.refuse(c, id, "bad_request", `id ${id} belongs to a request that is still open`);
      return;
    }
    this.toGuest(encode({ ...msg, id: guestId }));
  }

  private fromGuest(d: Buffer): void {
    this.upBuf = this.upBuf.length ? Buffer.concat([this.upBuf, d]) : d;
    const split = takeFrames(this.upBuf);
    if (!split) {
      // A broken stream from the guest: start over on a fresh connection.
      this.upstream?.destroy();
      return;
    }
    this.upBuf = split.rest;
    for (const body of split.frames) {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      } catch {
        continue;
      }
      const guestId = typeof msg.id === "number" ? msg.id : undefined;
      const route = guestId === undefined ? undefined : this.routes.get(guestId);
      if (!route || guestId === undefined) continue;
      if (msg.more !== true || msg.ok === false) {
        this.routes.delete(guestId);
        route.client.open.delete(route.id);
      }
      this.toClient(route.client, { ...msg, id: route.id });
    }
  }
}
