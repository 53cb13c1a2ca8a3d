import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { ARTIFACT_FILES, CHECKSUMS_FILE } from "../core/artifacts.js";
import { type Checksums, newChecksums, parseChecksums } from "../core/checksums.js";
import { MvmError } from "../core/errors.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { sha256File } from "../host/file-hash.js";
import { sha256Files } from "../host/hash-pool.js";
import { writeFileAtomic } from "./atomic.js";
import { type DigestCache, fileIdentity } from "./digest-cache.js";

export { sha256File };

/** The known artifact files present in a revision directory (relative names, sorted). */
export async function presentArtifacts(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of ARTIFACT_FILES) {
    const st = await fs.lstat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) out.push(name);
  }
  return out.sort();
}

/**
 * Hashes every artifact of a revision directory and writes its checksums.json atomically. With a
 * `cache`, the digests are remembered with each file's identity (digest-cache.ts), so `up` and `push`
 * need not hash the files again.
 */
export async function writeChecksums(
  dir: string,
  templateId: string,
  rev: string,
  cache?: DigestCache,
): Promise<Checksums> {
  const files: Record<string, string> = {};
  const hashed: Parameters<DigestCache["remember"]>[0] = {};
  const names = await presentArtifacts(dir);
  const paths = names.map((name) => join(dir, name));
  const before = await Promise.all(paths.map((path) => fileIdentity(path)));
  const digests = await sha256Files(paths);
  for (const [i, name] of names.entries()) {
    const sha256 = digests[i] as string;
    files[name] = sha256;
    hashed[paths[i] as string] = { sha256, before: before[i] };
  }
  const sums = newChecksums(templateId, rev, files);
  await writeFileAtomic(join(dir, CHECKSUMS_FILE), toJson(sums));
  await cache?.remember(hashed);
  return sums;
}

/** SHA-256 of a file: the remembered one while the file is unchanged, else hashed and remembered. */
export async function sha256Remembered(path: string, cache: DigestCache): Promise<string> {
  const known = await cache.lookup(path);
  if (known) return known;
  const before = await fileIdentity(path);
  const sha256 = await sha256File(path);
  await cache.remember({ [path]: { sha256, before } });
  return sha256;
}

export async function readChecksums(dir: string): Promise<Checksums> {
  const file = join(dir, CHECKSUMS_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new MvmError("not_found", `missing ${file}`);
    throw e;
  }
  return parseJsonFile(file, text, parseChecksums);
}

/**
 * The checksums a revision will have once `replace` (relative name → new file on disk) and `revisionJson`
 * (the exact bytes about to be written) are in place. Computed before anything changes, so the step that
 * swaps files and writes checksums.json is short.
 */
export async function checksumsAfter(
  dir: string,
  templateId: string,
  rev: string,
  replace: Record<string, string>,
  revisionJson: string,
  dropPrefix: string,
): Promise<Checksums> {
  const kept = (await presentArtifacts(dir)).filter(
    (name) => name !== "revision.json" && !name.startsWith(dropPrefix),
  );
  const replaced = Object.entries(replace);
  const sources = [...kept.map((name) => join(dir, name)), ...replaced.map(([, path]) => path)];
  const names = [...kept, ...replaced.map(([name]) => name)];
  const digests = await sha256Files(sources);
  const files: Record<string, string> = {};
  for (const [i, name] of names.entries()) files[name] = digests[i] as string;
  files["revision.json"] = createHash("sha256").update(revisionJson).digest("hex");
  return newChecksums(templateId, rev, files);
}

export async function writeChecksumsFile(dir: string, sums: Checksums): Promise<void> {
  await writeFileAtomic(join(dir, CHECKSUMS_FILE), toJson(sums));
}
