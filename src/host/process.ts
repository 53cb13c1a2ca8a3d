import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { MvmError } from "../core/errors.js";

// Host processes: running a program and collecting what it printed, whether a pid is alive and what
// it is running, and waiting.

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  /** The time limit passed and the program was killed. */
  timedOut: boolean;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the program (SIGKILL) after this long; `timedOut` then says so. */
  timeoutMs?: number;
  /** What to throw when the program does not exist (ENOENT). */
  missing?: () => MvmError;
  /** Keep at most this many bytes of each stream (default 4 MiB); the rest is read and dropped. */
  maxOutputBytes?: number;
}

/** Runs a program with an argv array (never a shell) and collects its output. ENOENT → `missing`. */
export function runProgram(program: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const cap = opts.maxOutputBytes ?? 4 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = () => {
      const parts: Buffer[] = [];
      let size = 0;
      return {
        add: (b: Buffer) => {
          if (size >= cap) return;
          const take = b.subarray(0, cap - size);
          parts.push(take);
          size += take.length;
        },
        bytes: () => Buffer.concat(parts),
      };
    };
    const out = collect();
    const err = collect();
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs)
        : undefined;
    child.stdout.on("data", out.add);
    child.stderr.on("data", err.add);
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === "ENOENT" && opts.missing) reject(opts.missing());
      else reject(new MvmError("external", `cannot run ${program}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdoutBytes = out.bytes();
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdoutBytes,
        stdout: stdoutBytes.toString("utf8"),
        stderr: err.bytes().toString("utf8"),
        timedOut,
      });
    });
  });
}

/** Whether a process with this pid exists (one of another user's counts). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A process's argv as the kernel reports it (empty when it is gone or not readable). */
export function processArgv(pid: number): string[] {
  if (!Number.isSafeInteger(pid) || pid <= 0) return [];
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.length === 0 ? [] : raw.replace(/\0$/, "").split("\0");
  } catch {
    return [];
  }
}

/** Whether `pid` is alive and one of its arguments contains `needle` (guards against a recycled pid). */
export function processMentions(pid: number, needle: string): boolean {
  return pidAlive(pid) && processArgv(pid).some((a) => a.includes(needle));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `done` every `intervalMs` until it is true or `timeoutMs` has passed; says which. */
export async function waitFor(done: () => boolean, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}

/**
 * Resolves once `alive` turns false, polling without keeping the event loop alive: the end of a
 * process this one did not start (and so cannot wait on).
 */
export function whenGone(alive: () => boolean, intervalMs = 200): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!alive()) resolve();
      else setTimeout(check, intervalMs).unref();
    };
    check();
  });
}

/** Sends a signal to a pid, ignoring a process that is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
