import {
  closeSync,
  promises as fs,
  fstatSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { usageError } from "../../core/errors.js";
import { sleep } from "../../host/process.js";

// A VM's console log, bounded: a guest may print without end, so the keeper that owns the VM writes its
// console into `console.log` and, once that file holds half the bound, moves it to `console.log.1`
// (replacing the previous one) and starts a new `console.log`. The two files together never exceed the
// bound and always hold the most recent output. `console.log` exists at every instant: the full file
// becomes `.1` through a hard link, and the new empty file replaces it with one rename, so a reader
// that keeps its file open (`logs -f`) reads everything written before a rotation and then moves on.

export const DEFAULT_CONSOLE_LOG_MAX_BYTES = 16 * 1024 * 1024;
export const CONSOLE_LOG_ENV = "MVM_CONSOLE_LOG_MAX_BYTES";
const MIN_BYTES = 4096;
const MAX_BYTES = 2 ** 40;
const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** The bound from MVM_CONSOLE_LOG_MAX_BYTES (bytes, or with a K/M/G suffix), else 16 MiB. */
export function consoleLogMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[CONSOLE_LOG_ENV]?.trim();
  if (!raw) return DEFAULT_CONSOLE_LOG_MAX_BYTES;
  const m = /^(\d{1,13})\s*([KMG]?)(?:i?B)?$/i.exec(raw);
  const n = m ? Number(m[1]) * (UNITS[(m[2] ?? "").toUpperCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < MIN_BYTES || n > MAX_BYTES)
    throw usageError(
      `invalid ${CONSOLE_LOG_ENV} ${JSON.stringify(raw.slice(0, 40))}: expected a size from 4K to 1024G, e.g. 16M`,
    );
  return n;
}

/** The older half of a rotated console log. */
export function previousLogPath(path: string): string {
  return `${path}.1`;
}

/** Appends console output to `path`, rotating into `path.1` so that both stay within `maxBytes`. */
export class ConsoleLogWriter {
  private fd: number;
  private size: number;
  private readonly half: number;

  constructor(
    private readonly path: string,
    maxBytes: number,
  ) {
    this.half = Math.max(1, Math.floor(maxBytes / 2));
    this.fd = openSync(path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** Writes `chunk` (synchronously: a guest that prints faster than the disk takes it is slowed down). */
  write(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.size >= this.half) this.rotate();
      const n = Math.min(chunk.length - off, this.half - this.size);
      let done = 0;
      while (done < n) done += writeSync(this.fd, chunk, off + done, n - done);
      off += n;
      this.size += n;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    const older = previousLogPath(this.path);
    const linking = `${older}.tmp`;
    const fresh = `${this.path}.new`;
    rmSync(linking, { force: true });
    linkSync(this.path, linking);
    renameSync(linking, older);
    rmSync(fresh, { force: true });
    const next = openSync(fresh, "wx", 0o600);
    renameSync(fresh, this.path);
    closeSync(this.fd);
    this.fd = next;
    this.size = 0;
  }
}

async function copyOut(
  fh: fs.FileHandle,
  from: number,
  to: number,
  out: (b: Buffer) => unknown,
): Promise<number> {
  let pos = from;
  const buf = Buffer.alloc(64 * 1024);
  while (pos < to) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - pos), pos);
    if (bytesRead === 0) break;
    await out(Buffer.from(buf.subarray(0, bytesRead)));
    pos += bytesRead;
  }
  return pos;
}

async function openIfThere(path: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Everything a console log holds now, oldest first (the rotated half, then the current file). */
export async function readConsoleLog(path: string, out: (b: Buffer) => unknown): Promise<void> {
  let current = await openIfThere(path);
  const older = await openIfThere(previousLogPath(path));
  try {
    // A rotation between the two opens makes `.1` the file just opened as current: reopen current.
    if (current && older && (await current.stat()).ino === (await older.stat()).ino) {
      await current.close();
      current = await openIfThere(path);
    }
    if (older) await copyOut(older, 0, (await older.stat()).size, out);
    if (current) await copyOut(current, 0, (await current.stat()).size, out);
  } finally {
    await older?.close();
    await current?.close();
  }
}

export interface FollowOptions {
  /** Start at the end of what is there now instead of at the beginning of the current file. */
  fromEnd?: boolean;
  pollMs?: number;
  /** Stop following: checked between polls. */
  stopped?: () => boolean;
}

/**
 * Copies a console log as it grows until the file goes away (the VM ended and its directory was
 * removed) or `stopped()` says so. Across a rotation the old file is read to its end before the new
 * one is opened, so nothing written before the rotation is skipped.
 */
export async function followConsoleLog(
  path: string,
  out: (b: Buffer) => unknown,
  opts: FollowOptions = {},
): Promise<void> {
  const pollMs = opts.pollMs ?? 200;
  const stopped = opts.stopped ?? (() => false);
  let fh = await openIfThere(path);
  let pos = fh && opts.fromEnd ? (await fh.stat()).size : 0;
  if (fh && !opts.fromEnd) {
    // From the beginning: the rotated half comes first (unless a rotation just made it this very file).
    const older = await openIfThere(previousLogPath(path));
    if (older && (await older.stat()).ino !== (await fh.stat()).ino)
      await copyOut(older, 0, (await older.stat()).size, out);
    await older?.close();
  }
  try {
    while (!stopped()) {
      const now = await fs.stat(path).catch(() => undefined);
      if (!fh) {
        if (!now) return;
        fh = await openIfThere(path);
        pos = 0;
        continue;
      }
      const mine = await fh.stat();
      pos = await copyOut(fh, pos, mine.size, out);
      if (!now) return;
      if (now.ino !== mine.ino) {
        // Rotated: finish the old file (the keeper may have written more since the stat), then switch.
        pos = await copyOut(fh, pos, (await fh.stat()).size, out);
        await fh.close();
        fh = await openIfThere(path);
        pos = 0;
        continue;
      }
      await sleep(pollMs);
    }
  } finally {
    await fh?.close();
  }
}
