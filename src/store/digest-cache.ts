import { type BigIntStats, promises as fs } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { DataPaths } from "./paths.js";
import { writeFileAtomic } from "./atomic.js";

// Digests already computed for a revision's files, remembered with the identity each file had while
// it was hashed (device, inode, size, modification and change times in nanoseconds). A revision's
// files are immutable, so while that identity holds, hashing again would only repeat the same answer:
// `up` and `push` trust the remembered digest instead. Any write to the file, a replacement (new
// inode) or a restored timestamp (the change time moves with it) makes the entry stale, and the file
// is hashed again. The cache is a hint kept in one file of the data dir (<data>/cache/digests.json,
// keyed by absolute path): a missing, stale or unreadable entry only means hashing, a lost update
// between two processes only a later hash. `verify` and `pull` always hash.

/** Most entries the cache keeps (files that no longer exist are dropped first). */
const MAX_ENTRIES = 2048;

interface Entry {
  sha256: string;
  dev: string;
  ino: string;
  size: string;
  mtime_ns: string;
  ctime_ns: string;
}

type Cache = Record<string, Entry>;

function identity(st: BigIntStats): Omit<Entry, "sha256"> {
  return {
    dev: st.dev.toString(),
    ino: st.ino.toString(),
    size: st.size.toString(),
    mtime_ns: st.mtimeNs.toString(),
    ctime_ns: st.ctimeNs.toString(),
  };
}

function sameIdentity(a: Omit<Entry, "sha256">, b: Omit<Entry, "sha256">): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtime_ns === b.mtime_ns &&
    a.ctime_ns === b.ctime_ns
  );
}

const HEX64 = /^[0-9a-f]{64}$/;

async function readCache(file: string): Promise<Cache> {
  try {
    const v = JSON.parse(await fs.readFile(file, "utf8")) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) return {};
    const out: Cache = {};
    for (const [name, e] of Object.entries(v as Record<string, unknown>)) {
      const x = e as Partial<Entry> | null;
      if (
        x &&
        typeof x.sha256 === "string" &&
        HEX64.test(x.sha256) &&
        [x.dev, x.ino, x.size, x.mtime_ns, x.ctime_ns].every((f) => typeof f === "string")
      )
        out[name] = x as Entry;
    }
    return out;
  } catch {
    return {};
  }
}

async function statOf(path: string): Promise<BigIntStats | undefined> {
  const st = await fs.stat(path, { bigint: true }).catch(() => undefined);
  return st?.isFile() ? st : undefined;
}

export type FileIdentity = Omit<Entry, "sha256">;

/**
 * A file's identity now, to be handed to `remember` once its bytes have been hashed: an identity
 * taken before hashing that still holds afterwards proves the digest describes that file.
 */
export async function fileIdentity(path: string): Promise<FileIdentity | undefined> {
  const st = await statOf(path);
  return st ? identity(st) : undefined;
}

/** Updates in progress per cache file in this process, chained so none overwrites another. */
const writing = new Map<string, Promise<void>>();

export class DigestCache {
  constructor(readonly file: string) {}

  /** The cache of a data dir. */
  static of(paths: DataPaths): DigestCache {
    return new DigestCache(join(paths.root, "cache", "digests.json"));
  }

  /** The remembered SHA-256 of the file at `path` if it is still exactly the file that was hashed. */
  async lookup(path: string): Promise<string | undefined> {
    const key = resolve(path);
    const entry = (await readCache(this.file))[key];
    if (!entry) return undefined;
    const st = await statOf(key);
    return st && sameIdentity(entry, identity(st)) ? entry.sha256 : undefined;
  }

  /**
   * Remembers digests of files this process just wrote and hashed where nobody else writes (a build's
   * staging directory, since moved into place), with the identity they have now.
   */
  async rememberAsIs(sums: Record<string, string>): Promise<void> {
    const hashed: Record<string, { sha256: string; before: FileIdentity | undefined }> = {};
    for (const [path, sha256] of Object.entries(sums))
      hashed[path] = { sha256, before: await fileIdentity(path) };
    await this.remember(hashed);
  }

  /**
   * Remembers digests of files (path → SHA-256 and the identity taken before hashing); a file whose
   * identity changed while it was hashed is left out. Updates from one process are applied one after
   * another (concurrent uploads would otherwise overwrite each other's entries). Best effort: a cache
   * that cannot be written is only a missed shortcut.
   */
  remember(hashed: Record<string, { sha256: string; before: FileIdentity | undefined }>): Promise<void> {
    const prev = writing.get(this.file) ?? Promise.resolve();
    const next = prev.then(() => this.update(hashed));
    writing.set(this.file, next);
    void next.finally(() => {
      if (writing.get(this.file) === next) writing.delete(this.file);
    });
    return next;
  }

  private async update(
    hashed: Record<string, { sha256: string; before: FileIdentity | undefined }>,
  ): Promise<void> {
    try {
      const cache = await readCache(this.file);
      let changed = false;
      for (const [path, { sha256, before }] of Object.entries(hashed)) {
        if (!before || !HEX64.test(sha256)) continue;
        const key = resolve(path);
        const now = await fileIdentity(key);
        if (!now || !sameIdentity(before, now)) continue;
        const old = cache[key];
        if (old && old.sha256 === sha256 && sameIdentity(old, now)) continue;
        cache[key] = { sha256, ...now };
        changed = true;
      }
      if (!changed) return;
      for (const key of Object.keys(cache)) if (!(await statOf(key))) delete cache[key];
      const keys = Object.keys(cache).sort().slice(-MAX_ENTRIES);
      const kept: Cache = {};
      for (const k of keys) kept[k] = cache[k] as Entry;
      await fs.mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.file, `${JSON.stringify(kept, null, 2)}\n`, 0o600);
    } catch {
      // a read-only or full data dir: the next run hashes again
    }
  }
}
