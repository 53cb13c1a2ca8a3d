import type { GuestChannel, GuestFrame, GuestStream } from "../../guest/channel.js";
import { STREAM_CHUNK, STREAM_WINDOW } from "../../guest/exec.js";
import { ConnectError } from "./connect.js";

// The processes envd started (or attached to) in each sandbox. A process is held by one guest stream
// (the agent's `exec`, or `attach` for one started elsewhere) whose output goes to every envd stream
// watching it (Start, Connect) — or nowhere while none does: the process runs on, as in E2B, until it
// exits. Input, stdin's end and terminal size travel on that same guest stream, whichever HTTP
// request asks for them.

export interface ProcessConfig {
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

export type OutputKind = "stdout" | "stderr" | "pty";

export interface ProcessEnd {
  exitCode: number;
  exited: boolean;
  status: string;
  error?: string;
  timedOut: boolean;
}

export interface ProcessWatcher {
  output(kind: OutputKind, data: Buffer): Promise<void>;
  end(result: ProcessEnd | ConnectError): void;
}

/** Processes tracked per sandbox (the agent itself holds at most 32 exec processes). */
export const MAX_TRACKED = 64;
/** Envd streams watching one process. */
export const MAX_WATCHERS = 16;

const SIGNAL_NAMES: Record<number, string> = {
  1: "hangup",
  2: "interrupt",
  3: "quit",
  6: "aborted",
  9: "killed",
  13: "broken pipe",
  14: "alarm clock",
  15: "terminated",
};

function endOf(f: GuestFrame): ProcessEnd {
  const timedOut = f.timed_out === true;
  if (typeof f.code === "number") {
    const status = `exit status ${f.code}`;
    return { exitCode: f.code, exited: true, status, ...(f.code !== 0 ? { error: status } : {}), timedOut };
  }
  const sig = typeof f.signal === "number" ? f.signal : 0;
  const status = `signal: ${SIGNAL_NAMES[sig] ?? `signal ${sig}`}`;
  return { exitCode: -1, exited: false, status, error: status, timedOut };
}

export class TrackedProcess {
  pid = 0;
  private readonly watchers = new Set<ProcessWatcher>();
  private openGate: () => void = () => {};
  /** Output waits here until the first stream has said `start` (or nobody watches). */
  private outputChain: Promise<void> = new Promise((r) => {
    this.openGate = r;
  });
  private inputChain: Promise<void> = Promise.resolve();
  private stdinUnacked = 0;
  private stdinWake: (() => void) | undefined;
  private finished = false;
  private stream!: GuestStream;
  readonly started: Promise<number>;
  readonly done: Promise<ProcessEnd>;

  constructor(
    private readonly channel: GuestChannel,
    kind: "exec" | "attach",
    fields: Record<string, unknown>,
    readonly config: ProcessConfig,
    readonly tag: string | undefined,
    readonly pty: boolean,
    readonly stdin: boolean,
  ) {
    let startedOk: (pid: number) => void = () => {};
    let startFailed: (e: unknown) => void = () => {};
    this.started = new Promise((res, rej) => {
      startedOk = res;
      startFailed = rej;
    });
    this.stream = channel.openStream(kind, fields, (f) => this.onFrame(f, startedOk));
    this.done = this.stream.done.then(
      async (f) => {
        this.finish();
        await this.outputChain;
        const end = endOf(f);
        for (const w of this.watchers) w.end(end);
        return end;
      },
      async (e: unknown) => {
        this.finish();
        startFailed(e);
        this.openGate();
        await this.outputChain;
        throw e;
      },
    );
    this.done.catch(() => {});
    this.started.catch(() => {});
  }

  private finish(): void {
    this.finished = true;
    this.stdinWake?.();
  }

  private onFrame(f: GuestFrame, startedOk: (pid: number) => void): void {
    if ((f.type === "exec" || f.type === "attach") && typeof f.pid === "number") {
      this.pid = f.pid;
      startedOk(f.pid);
      return;
    }
    if ((f.type === "stdout" || f.type === "stderr") && typeof f.data === "string") {
      const data = Buffer.from(f.data, "base64");
      const kind: OutputKind = this.pty ? "pty" : f.type;
      this.outputChain = this.outputChain.then(async () => {
        await Promise.all([...this.watchers].map((w) => w.output(kind, data).catch(() => {})));
        if (!this.finished) this.stream.send("ack", { bytes: data.length });
      });
      return;
    }
    if (f.type === "ack" && typeof f.bytes === "number") {
      this.stdinUnacked = Math.max(0, this.stdinUnacked - f.bytes);
      this.stdinWake?.();
    }
  }

  /** Lets output flow: to the watchers, or nowhere when there are none. */
  release(): void {
    this.openGate();
  }

  watch(w: ProcessWatcher): () => void {
    if (this.watchers.size >= MAX_WATCHERS)
      throw new ConnectError(
        "resource_exhausted",
        `process ${this.pid} already has ${MAX_WATCHERS} watchers`,
      );
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  private checkInput(): void {
    if (this.finished) throw new ConnectError("not_found", `process ${this.pid} has exited`);
    if (!this.stdin && !this.pty)
      throw new ConnectError(
        "failed_precondition",
        `process ${this.pid} was started without stdin (start it with stdin: true)`,
      );
  }

  /** Sends input in order, keeping at most one window of it unacknowledged by the agent. */
  sendInput(data: Buffer): Promise<void> {
    this.checkInput();
    const run = this.inputChain.then(async () => {
      let buf = data;
      while (buf.length > 0 && !this.finished) {
        while (this.stdinUnacked + Math.min(buf.length, STREAM_CHUNK) > STREAM_WINDOW && !this.finished)
          await new Promise<void>((r) => {
            this.stdinWake = r;
          });
        const part = buf.subarray(0, STREAM_CHUNK);
        buf = buf.subarray(part.length);
        this.stdinUnacked += part.length;
        if (!this.stream.send("stdin", { data: part.toString("base64") })) await this.stream.drained();
      }
    });
    this.inputChain = run.catch(() => {});
    return run;
  }

  closeStdin(): Promise<void> {
    this.checkInput();
    const run = this.inputChain.then(() => {
      if (!this.finished) this.stream.send("close_stdin");
    });
    this.inputChain = run;
    return run;
  }

  resize(rows: number, cols: number): void {
    if (this.finished) throw new ConnectError("not_found", `process ${this.pid} has exited`);
    if (!this.pty) throw new ConnectError("failed_precondition", `process ${this.pid} has no terminal`);
    this.stream.send("resize", { rows, cols });
  }

  close(): void {
    this.channel.close();
  }
}

const table = new Map<string, Map<number, TrackedProcess>>();

export function trackedIn(vmName: string): Map<number, TrackedProcess> {
  let m = table.get(vmName);
  if (!m) {
    m = new Map();
    table.set(vmName, m);
  }
  return m;
}

/** Tracks `p` once it has started, and forgets it (closing its guest channel) when it ends. */
export async function track(vmName: string, p: TrackedProcess): Promise<number> {
  const procs = trackedIn(vmName);
  if (procs.size >= MAX_TRACKED) {
    p.close();
    throw new ConnectError(
      "resource_exhausted",
      `this sandbox already runs ${MAX_TRACKED} tracked processes`,
    );
  }
  let pid: number;
  try {
    pid = await p.started;
  } catch (e) {
    p.close();
    throw e;
  }
  procs.set(pid, p);
  const forget = () => {
    if (procs.get(pid) === p) procs.delete(pid);
    if (procs.size === 0 && table.get(vmName) === procs) table.delete(vmName);
    p.close();
  };
  p.done.then(forget, forget);
  return pid;
}

export function findTracked(vmName: string, sel: { pid?: number; tag?: string }): TrackedProcess | undefined {
  const procs = table.get(vmName);
  if (!procs) return undefined;
  if (sel.pid !== undefined) return procs.get(sel.pid);
  for (const p of procs.values()) if (p.tag === sel.tag) return p;
  return undefined;
}
