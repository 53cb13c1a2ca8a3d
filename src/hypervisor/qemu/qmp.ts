import type { Socket } from "node:net";
import { MvmError } from "../../core/errors.js";
import { connectUnixSocket } from "../../host/unix-socket.js";
import { sleep } from "../../host/process.js";

// A client for QEMU's machine protocol (QMP): JSON objects, one per line, over a unix socket. The
// server greets, we negotiate capabilities, then each command gets exactly one `return` or `error`
// reply (matched by `id`); asynchronous `event` objects can arrive at any time in between.

export interface QmpEvent {
  event: string;
  data?: unknown;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  command: string;
}

export class QmpError extends MvmError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    desc: string,
  ) {
    super("external", `QEMU refused ${command}: ${desc}`);
  }
}

export class QmpClient {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private closedError: Error | undefined;
  private greeting: ((v: unknown) => void) | undefined;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => this.onData(chunk));
    const fail = (e: Error) => {
      this.closedError ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    sock.on("error", fail);
    sock.on("close", () => fail(new MvmError("external", "QEMU closed its control socket (QMP)")));
  }

  /** Connects, waits for the greeting and leaves capability negotiation mode. */
  static async connect(path: string, timeoutMs = 2000): Promise<QmpClient> {
    const sock = await connectUnixSocket(path, timeoutMs);
    const c = new QmpClient(sock);
    await new Promise<unknown>((resolve, reject) => {
      const t = setTimeout(() => reject(new MvmError("timeout", "QEMU did not greet on QMP")), timeoutMs);
      c.greeting = (v) => {
        clearTimeout(t);
        resolve(v);
      };
      sock.once("close", () => {
        clearTimeout(t);
        reject(new MvmError("external", "QEMU closed QMP before greeting"));
      });
    });
    await c.execute("qmp_capabilities");
    return c;
  }

  /** Connects, retrying while QEMU is still creating the socket. */
  static async connectRetry(path: string, deadline: number, alive: () => boolean): Promise<QmpClient> {
    let last: unknown;
    for (;;) {
      try {
        return await QmpClient.connect(path);
      } catch (e) {
        last = e;
      }
      if (!alive()) throw new MvmError("external", "QEMU exited before its control socket came up");
      if (Date.now() > deadline)
        throw new MvmError("timeout", `QEMU's control socket never came up: ${(last as Error)?.message}`);
      await sleep(20);
    }
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl < 0) break;
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) this.onMessage(line);
    }
    if (this.buf.length > 16 << 20) this.sock.destroy(new MvmError("external", "QMP reply too large"));
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // QEMU only writes JSON; a torn line would be a QEMU bug, not ours to crash on
    }
    if ("QMP" in msg) {
      this.greeting?.(msg.QMP);
      this.greeting = undefined;
      return;
    }
    if (typeof msg.event === "string") {
      for (const l of this.listeners) l({ event: msg.event, data: msg.data });
      return;
    }
    const id = typeof msg.id === "string" ? msg.id : undefined;
    const p = id ? this.pending.get(id) : undefined;
    if (!p || !id) return;
    this.pending.delete(id);
    if ("error" in msg) {
      const err = msg.error as { class?: string; desc?: string };
      p.reject(
        new QmpError(p.command, String(err.class ?? "GenericError"), String(err.desc ?? "unknown error")),
      );
    } else p.resolve(msg.return);
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `m${this.nextId++}`;
    const payload: Record<string, unknown> = { execute: command, id };
    if (args) payload.arguments = args;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, command });
      this.sock.write(`${JSON.stringify(payload)}\n`);
    });
  }

  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.sock.destroy();
  }
}
