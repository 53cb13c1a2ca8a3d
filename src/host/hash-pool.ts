import { promises as fs } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { MvmError, usageError } from "../core/errors.js";
import { sha256File } from "./file-hash.js";
import type { HashFailure, HashReply, HashRequest } from "./hash-protocol.js";

// SHA-256 of a set of files (a revision's kernel, rootfs, initrd, snapshot files), several files at
// once across the CPUs. SHA-256 of one file is inherently serial, so the unit of work is a file: the
// largest go first, each thread takes the next file as soon as it is free, and the main thread hashes
// too, so N threads cost N-1 worker threads. Every thread streams through two fixed 1 MiB buffers
// (file-hash.ts), whatever the sizes. A worker thread takes tens of milliseconds to start, so a set
// whose bytes beside its largest file are few is hashed on the main thread alone, one file after
// another, as are all sets when MVM_HASH_THREADS=1.

/**
 * Bytes that must lie beside the largest file before a second thread starts: below this a worker's
 * start-up (30–45 ms measured on 2 cores) costs about as much as hashing them on the main thread saves.
 */
export const PARALLEL_MIN_BYTES = 32 << 20;

/** The most threads MVM_HASH_THREADS may ask for. */
const MAX_THREADS = 64;

/** How many threads may hash at once: MVM_HASH_THREADS, else the CPUs this process may use. */
export function hashThreadLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MVM_HASH_THREADS?.trim();
  if (raw === undefined || raw === "") return availableParallelism();
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)
    throw usageError(
      `MVM_HASH_THREADS must be a whole number from 1 to ${MAX_THREADS}, got ${JSON.stringify(raw.slice(0, 40))}`,
      "Unset it to use every CPU, or set it to 1 to hash one file after another.",
    );
  return n;
}

/** Threads worth using for files of these sizes, at most `limit`. */
export function threadsFor(
  sizes: readonly number[],
  limit: number,
  parallelFrom = PARALLEL_MIN_BYTES,
): number {
  if (sizes.length < 2 || limit < 2) return 1;
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total - Math.max(...sizes) < parallelFrom) return 1;
  return Math.min(sizes.length, limit);
}

export interface HashOptions {
  /** Most threads to use (default: hashThreadLimit()). */
  threads?: number;
  /** Bytes beside the largest file from which a second thread is used (default PARALLEL_MIN_BYTES). */
  parallelFrom?: number;
  /** The worker thread's module; only a test replaces it, with one that fails. */
  workerScript?: URL;
}

export interface HashedFiles {
  /** SHA-256 of each path, in the order given. */
  digests: string[];
  /** Threads that hashed them (1: the main thread alone). */
  threads: number;
}

const WORKER_SCRIPT = new URL("./hash-worker.js", import.meta.url);

/** SHA-256 of each file, in the order given; the first failure is thrown. */
export async function sha256Files(paths: readonly string[], opts: HashOptions = {}): Promise<string[]> {
  return (await hashFiles(paths, opts)).digests;
}

/** As sha256Files, saying how many threads did the work. */
export async function hashFiles(paths: readonly string[], opts: HashOptions = {}): Promise<HashedFiles> {
  const limit = opts.threads ?? hashThreadLimit();
  // A file that cannot be read counts as empty here; hashing it reports why.
  const sizes = await Promise.all(
    paths.map((p) =>
      fs.stat(p).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  const threads = threadsFor(sizes, limit, opts.parallelFrom);
  const digests: string[] = [];
  if (threads === 1) {
    for (const p of paths) digests.push(await sha256File(p));
    return { digests, threads };
  }
  await hashInParallel(paths, sizes, threads, opts.workerScript ?? WORKER_SCRIPT, digests);
  return { digests, threads };
}

function rebuildError(f: HashFailure): Error {
  if (f.kind) return new MvmError(f.kind, f.message);
  const e: NodeJS.ErrnoException = new Error(f.message);
  if (f.code !== undefined) e.code = f.code;
  if (f.errno !== undefined) e.errno = f.errno;
  if (f.syscall !== undefined) e.syscall = f.syscall;
  if (f.path !== undefined) e.path = f.path;
  return e;
}

function threadStopped(path: string, why: string): MvmError {
  return new MvmError("internal", `could not hash ${path}: its hashing thread stopped (${why})`);
}

async function hashInParallel(
  paths: readonly string[],
  sizes: readonly number[],
  threads: number,
  script: URL,
  digests: string[],
): Promise<void> {
  const order = paths.map((_, i) => i).sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0));
  let next = 0;
  let failure: { e: unknown } | undefined;
  const stop = new AbortController();
  const workers: Worker[] = [];
  const take = (): number | undefined => (failure || next >= order.length ? undefined : order[next++]);
  const fail = (e: unknown): void => {
    if (failure) return;
    failure = { e };
    stop.abort();
    for (const w of workers) void w.terminate();
  };

  const mainThread = async (): Promise<void> => {
    for (let i = take(); i !== undefined; i = take()) {
      try {
        digests[i] = await sha256File(paths[i]!, stop.signal);
      } catch (e) {
        fail(e);
      }
    }
  };

  const workerThread = (w: Worker): Promise<void> =>
    new Promise((resolve) => {
      let current: number | undefined;
      let finished = false;
      const finish = (): void => {
        finished = true;
        current = undefined;
        resolve();
      };
      const send = (): void => {
        current = take();
        if (current === undefined) finish();
        else w.postMessage({ path: paths[current]! } satisfies HashRequest);
      };
      w.on("message", (reply: HashReply) => {
        if (finished || current === undefined) return;
        if ("error" in reply) {
          fail(rebuildError(reply.error));
          finish();
        } else {
          digests[current] = reply.sha256;
          send();
        }
      });
      w.on("error", (e) => {
        if (finished) return;
        fail(threadStopped(paths[current ?? order[0]!]!, e.message));
        finish();
      });
      w.on("exit", (code) => {
        if (finished) return;
        fail(threadStopped(paths[current ?? order[0]!]!, `exit code ${code}`));
        finish();
      });
      send();
    });

  try {
    for (let n = 1; n < threads; n++) workers.push(new Worker(script));
    // The main thread takes the largest file before any worker has started.
    const main = mainThread();
    await Promise.all([main, ...workers.map(workerThread)]);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (failure) throw failure.e;
}
