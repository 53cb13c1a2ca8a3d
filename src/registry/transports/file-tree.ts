import { constants, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { MvmError } from "../../core/errors.js";

// The inside of a file:// registry is as untrusted as any remote registry (a shared directory, a mounted
// disk): nothing in it is followed through a symlink. Every path below the root is checked component
// by component before it is used, and files are opened with O_NOFOLLOW, so a planted link cannot make
// a pull read (or a push write) a file outside the registry. The root itself is the user's choice and
// may be a link.

export class RegistryTree {
  constructor(readonly root: string) {}

  private refused(rel: string): MvmError {
    return new MvmError(
      "corrupt",
      `file registry ${this.root}: ${rel} is a symlink; registry files are never followed through links`,
      { hint: "Replace the link with the file or directory itself, or point --registry at a clean copy." },
    );
  }

  /** The absolute path of `rel` (slash-separated), refusing it when an existing component is a link. */
  async path(rel: string): Promise<string> {
    let at = this.root;
    let sofar = "";
    for (const part of rel.split("/")) {
      at = join(at, part);
      sofar = sofar ? `${sofar}/${part}` : part;
      const st = await fs.lstat(at).catch(() => undefined);
      if (!st) break; // nothing further down exists either
      if (st.isSymbolicLink()) throw this.refused(sofar);
    }
    return join(this.root, rel);
  }

  /** Opens a regular file for reading without following links; undefined when it does not exist. */
  async open(rel: string): Promise<{ fh: FileHandle; size: number } | undefined> {
    const path = await this.path(rel);
    let fh: FileHandle;
    try {
      fh = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP") throw this.refused(rel);
      throw e;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new MvmError("corrupt", `file registry ${this.root}: ${rel} is not a regular file`);
    }
    return { fh, size: st.size };
  }

  /** A small document (index, `current`), refused when larger than `limit`; undefined when absent. */
  async readText(rel: string, limit: number): Promise<string | undefined> {
    const f = await this.open(rel);
    if (!f) return undefined;
    try {
      if (f.size > limit)
        throw new MvmError(
          "corrupt",
          `file registry ${this.root}: ${rel} is ${f.size} bytes, more than the ${limit} a registry document may have`,
        );
      const buf = Buffer.alloc(f.size);
      let off = 0;
      while (off < f.size) {
        const { bytesRead } = await f.fh.read(buf, off, f.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf.subarray(0, off).toString("utf8");
    } finally {
      await f.fh.close();
    }
  }
}
