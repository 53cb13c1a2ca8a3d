import { promises as fs } from "node:fs";
import { resolve } from "node:path";
import { sha256File } from "../store/checksums.js";

// The SHA-256 of a VM's boot images, recorded in snapshot fingerprints. A revision's checksums.json
// usually has them already; otherwise each image (path, size, mtime) is hashed once per process.

const cache = new Map<string, Promise<string>>();

export async function imageSha256(path: string, known?: string): Promise<string> {
  if (known) return known;
  const st = await fs.stat(path);
  const key = `${resolve(path)}\0${st.size}\0${st.mtimeMs}`;
  let h = cache.get(key);
  if (!h) {
    h = sha256File(path);
    cache.set(key, h);
    h.catch(() => cache.delete(key));
  }
  return h;
}
