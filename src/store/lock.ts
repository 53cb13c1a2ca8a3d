import { readFileSync, unlinkSync } from "node:fs";
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { MvmError } from "../core/errors.js";
import { pidAlive, sleep } from "../host/process.js";
import { tempSibling } from "./atomic.js";

// A lock is a file created atomically with link(2) that names its holder (pid and the process's
// start time, so a recycled pid is not mistaken for the holder). A lock whose holder is gone —
// killed with SIGKILL, say — is broken by the next writer.

interface Holder {
  pid: number;
  start: string;
  cmd: string;
}

function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22 (starttime) counted after the ")" that closes the command name.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? "";
  } catch {
    return "";
  }
}

function holderAlive(h: Holder): boolean {
  if (!pidAlive(h.pid)) return false;
  const start = processStart(h.pid);
  return start === "" || h.start === "" || start === h.start;
}

function parseHolder(text: string): Holder | undefined {
  try {
    const v = JSON.parse(text) as Partial<Holder>;
    if (typeof v.pid === "number" && typeof v.start === "string")
      return { pid: v.pid, start: v.start, cmd: String(v.cmd ?? "") };
  } catch {
    // A torn or foreign file: treated as stale below once it is old enough.
  }
  return undefined;
}

const held = new Map<string, { count: number; content: string }>();

process.on("exit", () => {
  for (const [path, h] of held) {
    try {
      if (readFileSync(path, "utf8") === h.content) unlinkSync(path);
    } catch {
      // Nothing to release.
    }
  }
});

export interface LockOptions {
  /** How long a second writer waits before failing; MVM_LOCK_TIMEOUT_MS overrides. */
  timeoutMs?: number;
  /** Used in the "… is locked by pid N" message. */
  what: string;
}

export class FileLock {
  private released = false;
  constructor(readonly path: string) {}

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const h = held.get(this.path);
    if (!h) return;
    if (--h.count > 0) return;
    held.delete(this.path);
    try {
      if ((await fs.readFile(this.path, "utf8")) === h.content) await fs.unlink(this.path);
    } catch {
      // Already gone.
    }
  }
}

function defaultTimeout(): number {
  const env = Number(process.env.MVM_LOCK_TIMEOUT_MS);
  return Number.isFinite(env) && env >= 0 ? env : 10_000;
}

export async function acquireLock(path: string, opts: LockOptions): Promise<FileLock> {
  const mine = held.get(path);
  if (mine) {
    mine.count++;
    return new FileLock(path);
  }
  await fs.mkdir(dirname(path), { recursive: true });
  const content = JSON.stringify({
    pid: process.pid,
    start: processStart(process.pid),
    cmd: process.argv.slice(2).join(" ").slice(0, 200),
  });
  const deadline = Date.now() + (opts.timeoutMs ?? defaultTimeout());
  let delay = 20;
  for (;;) {
    const tmp = tempSibling(path, "tmp");
    await fs.writeFile(tmp, content, { mode: 0o644 });
    try {
      await fs.link(tmp, path);
      held.set(path, { count: 1, content });
      return new FileLock(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      await fs.rm(tmp, { force: true });
    }
    let text: string;
    let mtime = Date.now();
    try {
      text = await fs.readFile(path, "utf8");
      mtime = (await fs.stat(path)).mtimeMs;
    } catch {
      continue; // released between link and read: try again at once
    }
    const holder = parseHolder(text);
    const stale = holder ? !holderAlive(holder) : Date.now() - mtime > 5_000;
    if (stale) {
      await breakStale(path, text);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `pid ${holder.pid}` : "an unknown process";
      throw new MvmError("locked", `${opts.what} is locked by ${who}`, {
        hint: holder?.cmd ? `It is running: mvmctl ${holder.cmd}` : "Wait for it to finish and try again.",
      });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}

/** Moves a stale lock aside and deletes it, but only if it is still the same stale lock. */
async function breakStale(path: string, staleText: string): Promise<void> {
  const aside = tempSibling(path, "trash");
  try {
    await fs.rename(path, aside);
  } catch {
    return; // someone else broke or released it
  }
  let moved = "";
  try {
    moved = await fs.readFile(aside, "utf8");
  } catch {
    return;
  }
  if (moved !== staleText) {
    // We moved a fresh lock taken in between: put it back unless yet another writer holds the path.
    await fs.link(aside, path).catch(() => {});
  }
  await fs.rm(aside, { force: true });
}

export async function withLock<T>(path: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
