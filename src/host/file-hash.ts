import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import { resolve } from "node:path";

// SHA-256 of files: streamed (constant memory whatever the size), and a per-process cache for images
// that are never rewritten in place (revision files), keyed by path, size and modification time.

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest("hex");
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
