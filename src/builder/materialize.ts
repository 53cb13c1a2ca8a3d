import { constants, promises as fs } from "node:fs";

// Puts a store file into a revision directory without duplicating bytes when it can: a hard link
// (same filesystem; the revision keeps the bytes alive even after nix garbage-collects the path), else a
// reflink, else a copy that leaves runs of zeros as holes so that a mostly empty ext4 image stays small.

const BLOCK = 64 * 1024;
const CHUNK = 4 * 1024 * 1024;

export type Placement = "linked" | "reflinked" | "copied";

export async function placeFile(src: string, dst: string): Promise<Placement> {
  try {
    await fs.link(src, dst);
    return "linked";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK" && code !== "EACCES") throw e;
  }
  try {
    await fs.copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    await fs.chmod(dst, 0o644);
    return "reflinked";
  } catch {
    await fs.rm(dst, { force: true });
  }
  await sparseCopy(src, dst);
  return "copied";
}

/** Copies `src` to a new file `dst`, skipping all-zero blocks (they read back as zeros), then fsyncs. */
export async function sparseCopy(src: string, dst: string): Promise<void> {
  const zero = Buffer.alloc(BLOCK);
  const buf = Buffer.alloc(CHUNK);
  const input = await fs.open(src, "r");
  try {
    const output = await fs.open(dst, "wx", 0o644);
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
