import type { Readable, Writable } from "node:stream";
import { MvmError } from "../core/errors.js";
import type { GuestChannel, GuestFrame, GuestStream } from "./channel.js";

// Running a command in the guest (the agent's "exec" stream, docs/guest-protocol.md). Output frames
// are written to the caller's streams and acknowledged only once those writes have completed, so a
// slow reader (a pipe, a terminal) slows the command down instead of filling memory on either side.
// Input is sent at most one window ahead of what the agent says the command has taken.

/** Bytes of output (or input) in flight per stream: the agent's window. */
export const STREAM_WINDOW = 256 * 1024;
/** Largest payload per data frame (base64 keeps it well inside a 256 KiB frame). */
export const STREAM_CHUNK = 48 * 1024;

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** A user name from the guest's passwd, "UID" or "UID:GID"; root when omitted. */
  user?: string;
  /** Kill the command (and everything it started) after this long. */
  timeoutMs?: number;
  /** A terminal of this size instead of pipes (stdout and stderr then arrive as one stream). */
  pty?: { rows: number; cols: number };
}

export interface ExecIo {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Called once the command has started, with its pid in the guest. */
  onStart?: (pid: number) => void;
}

export interface ExecResult {
  pid: number;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: number | null;
  timedOut: boolean;
}

export interface RunningExec {
  readonly result: Promise<ExecResult>;
  /** The guest pid, once started. */
  pid(): number | undefined;
  resize(rows: number, cols: number): void;
}

function writeAndWait(out: Writable, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    out.write(data, () => resolve());
  });
}

export function startExec(ch: GuestChannel, req: ExecRequest, io: ExecIo): RunningExec {
  if (req.argv.length === 0 || !req.argv[0]) throw new MvmError("usage", "no command given");
  let pid: number | undefined;
  let outputChain = Promise.resolve();
  let stdinUnacked = 0;
  let stdinWaiter: (() => void) | undefined;
  let ended = false;
  const onFrame = (f: GuestFrame) => {
    if (f.type === "exec" || f.type === "attach") {
      pid = typeof f.pid === "number" ? f.pid : undefined;
      if (pid !== undefined) io.onStart?.(pid);
      if (io.stdin) void pumpStdin(stream);
      return;
    }
    if ((f.type === "stdout" || f.type === "stderr") && typeof f.data === "string") {
      const data = Buffer.from(f.data, "base64");
      const out = f.type === "stdout" ? io.stdout : io.stderr;
      outputChain = outputChain.then(async () => {
        await writeAndWait(out, data);
        if (!ended) stream.send("ack", { bytes: data.length });
      });
      return;
    }
    if (f.type === "ack" && typeof f.bytes === "number") {
      stdinUnacked = Math.max(0, stdinUnacked - f.bytes);
      stdinWaiter?.();
    }
  };
  const fields: Record<string, unknown> = { argv: req.argv, stdin: io.stdin !== undefined };
  if (req.env && Object.keys(req.env).length) fields.env = req.env;
  if (req.cwd) fields.cwd = req.cwd;
  if (req.user) fields.user = req.user;
  if (req.timeoutMs) fields.timeout_ms = req.timeoutMs;
  if (req.pty) fields.pty = req.pty;
  const stream = ch.openStream("exec", fields, onFrame);

  async function pumpStdin(s: GuestStream): Promise<void> {
    const input = io.stdin as Readable;
    try {
      for await (const chunk of input) {
        let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
        while (buf.length > 0) {
          if (ended) return;
          while (stdinUnacked + Math.min(buf.length, STREAM_CHUNK) > STREAM_WINDOW && !ended)
            await new Promise<void>((r) => {
              stdinWaiter = r;
            });
          const part = buf.subarray(0, STREAM_CHUNK);
          buf = buf.subarray(part.length);
          stdinUnacked += part.length;
          if (!s.send("stdin", { data: part.toString("base64") })) await s.drained();
        }
      }
    } catch {
      // the local input failed (closed terminal): the command sees end of input
    }
    if (!ended) s.send("close_stdin");
  }

  const result = stream.done.then(async (f) => {
    ended = true;
    stdinWaiter?.();
    await outputChain;
    return {
      pid: pid ?? 0,
      code: typeof f.code === "number" ? f.code : null,
      signal: typeof f.signal === "number" ? f.signal : null,
      timedOut: f.timed_out === true,
    };
  });
  result.catch(() => {
    ended = true;
    stdinWaiter?.();
  });
  return {
    result,
    pid: () => pid,
    resize: (rows, cols) => {
      if (!ended) stream.send("resize", { rows, cols });
    },
  };
}

/** Sends a signal (a name such as "TERM" or a number) to a process started through exec, and its group. */
export async function signalGuestProcess(
  ch: GuestChannel,
  pid: number,
  signal: string | number,
): Promise<void> {
  await ch.request("signal", { pid, signal });
}

export interface GuestProcess {
  pid: number;
  command: string;
  uid: number;
  running: boolean;
  /** A host is receiving its output. */
  attached: boolean;
  pty: boolean;
  age_ms: number;
  exit: { code: number | null; signal: number | null } | null;
}

export async function listGuestProcesses(ch: GuestChannel): Promise<GuestProcess[]> {
  const r = await ch.request("ps");
  return Array.isArray(r.processes) ? (r.processes as GuestProcess[]) : [];
}
