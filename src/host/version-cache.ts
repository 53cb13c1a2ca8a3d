import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";

// A program's version string, remembered per binary: asking `qemu-system-x86_64 --version` costs a
// process start on every `up`, yet the answer only changes when the binary does. The cache entry is
// keyed by the binary's resolved path and identity (device, inode, size, modification time), so an
// upgrade, a reinstall or another binary on PATH is asked again.

async function binaryKey(bin: string): Promise<string | undefined> {
  try {
    const real = await fs.realpath(bin);
    const st = await fs.stat(real, { bigint: true });
    return createHash("sha256")
      .update(`${real}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}`)
      .digest("hex")
      .slice(0, 24);
  } catch {
    return undefined;
  }
}

/** Longest version string kept (one line of `--version` output is far shorter). */
const MAX_VERSION = 200;

/**
 * The version of `bin`: remembered in `cacheDir` while the binary is unchanged, else `ask()`ed and
 * remembered. Without a cache dir, or when the cache cannot be read or written, it just asks.
 */
export async function cachedVersion(
  bin: string,
  cacheDir: string | undefined,
  ask: () => Promise<string>,
): Promise<string> {
  const key = cacheDir ? await binaryKey(bin) : undefined;
  const file = key && cacheDir ? join(cacheDir, `.version-${key}`) : undefined;
  if (file) {
    const known = await fs.readFile(file, "utf8").catch(() => "");
    if (known && known.length <= MAX_VERSION && !/[\0-\x1f]/.test(known)) return known;
  }
  const version = await ask();
  if (file && version.length <= MAX_VERSION && !/[\0-\x1f]/.test(version)) {
    const tmp = `${file}.${process.pid}.tmp`;
    await fs
      .mkdir(cacheDir as string, { recursive: true })
      .then(() => fs.writeFile(tmp, version, { mode: 0o600 }))
      .then(() => fs.rename(tmp, file))
      .catch(() => fs.rm(tmp, { force: true }).catch(() => {}));
  }
  return version;
}
