import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { resolve } from "node:path";

// SHA-256 of files: streamed (constant memory whatever the size), and a per-process cache for images
// that are never rewritten in place (revision files), keyed by path, size and modification time.

/** Bytes per read. Two buffers of this size are all the memory one file's hashing takes. */
const READ_SIZE = 1 << 20;

/**
 * SHA-256 of a file, streamed through two fixed buffers: the next read is in flight while the current
 * chunk is hashed, so the disk and the CPU work at the same time. Holes read back as zeros and are
 * hashed like any other bytes (SHA-256 has no shortcut for them). `signal` stops it between reads.
 */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const fh = await fs.open(path, "r");
  const bufs = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)];
  let pos = 0;
  let turn = 0;
  let pending = fh.read(bufs[0]!, 0, READ_SIZE, pos);
  try {
    const h = createHash("sha256");
    for (;;) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) break;
      signal?.throwIfAborted();
      pos += bytesRead;
      turn ^= 1;
      pending = fh.read(bufs[turn]!, 0, READ_SIZE, pos);
      h.update(buffer.subarray(0, bytesRead));
    }
    return h.digest("hex");
  } finally {
    // A read still in flight (stopped early) must finish before its file is closed.
    await pending.catch(() => {});
    await fh.close();
  }
}

const hashes = new Map<string, Promise<string>>();

/**
 * SHA-256 of a file that is replaced only by rename, hashed once per process for each (path, size,
 * mtime); a failed read is not remembered.
 */
export async function cachedSha256(path: string): Promise<string> {
  const st = await fs.stat(path);
  const key = `${resolve(path)}\0${st.size}\0${st.mtimeMs}`;
  let h = hashes.get(key);
  if (!h) {
    h = sha256File(path);
    hashes.set(key, h);
    h.catch(() => hashes.delete(key));
  }
  return h;
}
