import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { constants, promises as fs } from "node:fs";
import { basename, dirname, join } from "node:path";

// File operations on large, mostly empty images (rootfs, snapshot memory, disk overlays): copies that
// keep holes as holes and share blocks where the filesystem can, punching zero runs out of a file, and
// moves that stay whole across filesystems. Each exists once, here.

const BLOCK = 64 * 1024;
const CHUNK = 4 * 1024 * 1024;

/** A name in the same directory that list/load never mistake for a real entry (leading dot). */
export function tempSibling(path: string, tag = "tmp"): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

export async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Flushes a file's data to disk (for a file written by another program, before it is renamed into place). */
export async function fsyncFile(path: string): Promise<void> {
  const h = await fs.open(path, "r+");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Copies `src` to a new file `dst` (which must not exist), leaving all-zero blocks out so they stay
 * holes (they read back as zeros), then fsyncs. `mode` defaults to the source's permission bits.
 */
export async function sparseCopy(src: string, dst: string, mode?: number): Promise<void> {
  const zero = Buffer.alloc(BLOCK);
  const buf = Buffer.alloc(CHUNK);
  const input = await fs.open(src, "r");
  try {
    const perm = mode ?? (await input.stat()).mode & 0o777;
    const output = await fs.open(dst, "wx", perm);
    try {
      let pos = 0;
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        for (let off = 0; off < bytesRead; off += BLOCK) {
          const len = Math.min(BLOCK, bytesRead - off);
          const block = buf.subarray(off, off + len);
          if (len === BLOCK ? block.equals(zero) : block.equals(zero.subarray(0, len))) continue;
          await output.write(block, 0, len, pos + off);
        }
        pos += bytesRead;
      }
      await output.truncate(pos); // a trailing hole still counts towards the size
      await output.sync();
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/** Clones `src` to the new file `dst` (a reflink: shared blocks, no bytes copied); false where the filesystem cannot. */
export async function reflink(src: string, dst: string): Promise<boolean> {
  try {
    await fs.copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw e;
    await fs.rm(dst, { force: true });
    return false;
  }
}

/**
 * A new, independent copy of `src` at `dst` that costs as little as the filesystem allows: a reflink
 * where it can, else a sparse copy. The copy keeps the source's permission bits.
 */
export async function copyShared(src: string, dst: string): Promise<void> {
  if (await reflink(src, dst)) return;
  await sparseCopy(src, dst);
}

/**
 * Moves a file so that `to` is either absent or complete: a rename on the same filesystem; across
 * filesystems a sparse copy under a temp name beside `to`, renamed into place, then the source removed.
 */
export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
  }
  const tmp = tempSibling(to);
  try {
    await sparseCopy(from, tmp);
    await fs.rename(tmp, to);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(to));
  await fs.rm(from, { force: true });
}

/**
 * Punches the all-zero runs out of a file in place (`fallocate --dig-holes`), so a memory image takes
 * only the disk its data needs. False when fallocate is missing or the filesystem cannot punch holes:
 * the file is then left as it was, whole and correct.
 */
export function digHoles(path: string, timeoutMs = 600_000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile("fallocate", ["--dig-holes", "--", path], { timeout: timeoutMs }, (err) => resolvePromise(!err));
  });
}
