import { cachedSha256 } from "../host/file-hash.js";

// The SHA-256 of a VM's boot images, recorded in snapshot fingerprints. A revision's checksums.json
// usually has them already; otherwise each image is hashed once per process (revision files are
// replaced only by rename, so path, size and mtime identify the content).

export function imageSha256(path: string, known?: string): Promise<string> {
  return known ? Promise.resolve(known) : cachedSha256(path);
}
