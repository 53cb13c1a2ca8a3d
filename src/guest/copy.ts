import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, promises as fs } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { finished } from "node:stream/promises";
import { MvmError } from "../core/errors.js";
import { sanitize } from "../core/untrusted-text.js";
import type { GuestFs } from "./guest-fs.js";

// `mvmctl cp`: files and directory trees between the host and a guest, with their permission bits.
// A copy becomes visible whole or not at all: a file is written to a temporary name and renamed, a
// tree is assembled under a hidden temporary directory next to its destination and renamed into
// place. Symbolic links are not followed inside a tree and not copied (they are counted). Names a
// guest lists are checked before they are used on the host: one component each, never "." or "..".

/** Directory levels copied out of a guest (the agent lists at most this deep). */
export const MAX_TREE_DEPTH = 32;

export interface CopyStats {
  files: number;
  dirs: number;
  bytes: number;
  /** Symbolic links and special files left out. */
  skipped: number;
  /** Where the copy ended up. */
  target: string;
}

const tempName = (target: string) =>
  join(dirname(target), `.${basename(target)}.mvm-cp-${randomBytes(4).toString("hex")}`);
const guestTempName = (target: string) =>
  posix.join(posix.dirname(target), `.${posix.basename(target)}.mvm-cp-${randomBytes(4).toString("hex")}`);

async function guestKind(g: GuestFs, path: string): Promise<string | undefined> {
  return (await g.stat(path))?.kind;
}

async function hostKind(path: string): Promise<"file" | "dir" | "other" | undefined> {
  const st = await fs.stat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (!st) return undefined;
  return st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
}

/** Copies a host file or tree to `dst` in the guest (into it, when it is an existing directory). */
export async function copyToGuest(g: GuestFs, src: string, dst: string): Promise<CopyStats> {
  const st = await fs.stat(src).catch((e: NodeJS.ErrnoException) => {
    throw new MvmError(
      "not_found",
      `cannot read ${src}: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`,
    );
  });
  if (!st.isFile() && !st.isDirectory())
    throw new MvmError("unsupported", `${src} is neither a file nor a directory`);
  const dstKind = await guestKind(g, dst);
  const target = dstKind === "dir" ? posix.join(dst, basename(src)) : dst;
  const stats: CopyStats = { files: 0, dirs: 0, bytes: 0, skipped: 0, target };
  if (st.isFile()) {
    if ((await guestKind(g, target)) === "dir")
      throw new MvmError("exists", `${target} is a directory in the guest`);
    stats.bytes = await g.write(target, createReadStream(src), { mode: st.mode & 0o7777 });
    stats.files = 1;
    return stats;
  }
  if (dstKind !== "dir" && dst.endsWith("/"))
    throw new MvmError("not_found", `guest directory ${dst} does not exist`);
  if ((await guestKind(g, target)) !== undefined)
    throw new MvmError("exists", `${target} already exists in the guest`, {
      hint: "Remove it first, or copy to a path that does not exist yet.",
    });
  const stage = guestTempName(target);
  const dirModes: Array<[string, number]> = [];
  try {
    await g.mkdir(stage, { mode: 0o700 });
    dirModes.push([stage, st.mode & 0o7777]);
    const walk = async (hostDir: string, guestDir: string, depth: number): Promise<void> => {
      const entries = (await fs.readdir(hostDir, { withFileTypes: true })).sort((a, b) =>
        a.name < b.name ? -1 : 1,
      );
      for (const e of entries) {
        const hp = join(hostDir, e.name);
        const gp = posix.join(guestDir, e.name);
        if (e.isDirectory()) {
          if (depth >= MAX_TREE_DEPTH)
            throw new MvmError("usage", `${src} is more than ${MAX_TREE_DEPTH} levels deep`);
          const mode = (await fs.lstat(hp)).mode & 0o7777;
          await g.mkdir(gp, { mode: 0o700 });
          dirModes.push([gp, mode]);
          stats.dirs++;
          await walk(hp, gp, depth + 1);
        } else if (e.isFile()) {
          const mode = (await fs.lstat(hp)).mode & 0o7777;
          stats.bytes += await g.write(gp, createReadStream(hp), { mode, atomic: false });
          stats.files++;
        } else stats.skipped++;
      }
    };
    await walk(src, stage, 1);
    // Directory modes last, deepest first: a read-only directory must not stop its own copy.
    for (const [p, mode] of dirModes.reverse()) await g.mkdir(p, { mode, parents: true });
    await g.rename(stage, target);
  } catch (e) {
    await g.remove(stage, { recursive: true }).catch(() => {});
    throw e;
  }
  return stats;
}

/** A relative path from a guest listing, checked before it names anything on the host. */
function safeRelative(p: string): string[] {
  const parts = p.split("/");
  if (
    parts.length > MAX_TREE_DEPTH ||
    parts.some((c) => c === "" || c === "." || c === ".." || c.includes("\0") || Buffer.byteLength(c) > 255)
  )
    throw new MvmError("external", `the guest listed an unusable path ${JSON.stringify(sanitize(p, 200))}`);
  return parts;
}

async function readInto(g: GuestFs, guestPath: string, hostPath: string): Promise<number> {
  const out = createWriteStream(hostPath, { flags: "wx", mode: 0o600 });
  try {
    const bytes = await g.read(guestPath, out);
    out.end();
    await finished(out);
    return bytes;
  } catch (e) {
    out.destroy();
    throw e;
  }
}

/** Copies a guest file or tree to `dst` on the host (into it, when it is an existing directory). */
export async function copyFromGuest(g: GuestFs, src: string, dst: string): Promise<CopyStats> {
  const srcStat = await g.stat(src);
  if (!srcStat) throw new MvmError("not_found", `${src} does not exist in the guest`);
  const dstKind = await hostKind(dst);
  const name = posix.basename(src) || "root";
  const target = dstKind === "dir" ? join(dst, name) : dst;
  const stats: CopyStats = { files: 0, dirs: 0, bytes: 0, skipped: 0, target };
  if (srcStat.kind !== "file" && srcStat.kind !== "dir")
    throw new MvmError(
      "unsupported",
      `${src} in the guest is not a regular file or a directory (${srcStat.kind})`,
    );
  if (dstKind === undefined && dst.endsWith("/"))
    throw new MvmError("not_found", `directory ${dst} does not exist`);
  if (srcStat.kind === "file") {
    if ((await hostKind(target)) === "dir") throw new MvmError("exists", `${target} is a directory`);
    const tmp = tempName(target);
    try {
      stats.bytes = await readInto(g, src, tmp);
      await fs.chmod(tmp, srcStat.mode & 0o777);
      await fs.rename(tmp, target);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    stats.files = 1;
    return stats;
  }
  if ((await hostKind(target)) !== undefined)
    throw new MvmError("exists", `${target} already exists`, {
      hint: "Remove it first, or copy to a path that does not exist yet.",
    });
  const entries = await g.list(src, MAX_TREE_DEPTH);
  const stage = tempName(target);
  const dirModes: Array<[string, number]> = [[stage, srcStat.mode & 0o777]];
  try {
    await fs.mkdir(stage, { mode: 0o700 });
    for (const e of entries) {
      const local = join(stage, ...safeRelative(e.path));
      if (e.kind === "dir") {
        await fs.mkdir(local, { mode: 0o700 });
        dirModes.push([local, e.mode & 0o777]);
        stats.dirs++;
      } else if (e.kind === "file") {
        stats.bytes += await readInto(g, posix.join(src, e.path), local);
        await fs.chmod(local, e.mode & 0o777);
        stats.files++;
      } else stats.skipped++;
    }
    for (const [p, mode] of dirModes.reverse()) await fs.chmod(p, mode);
    await fs.rename(stage, target);
  } catch (e) {
    for (const [p] of dirModes) await fs.chmod(p, 0o700).catch(() => {});
    await fs.rm(stage, { recursive: true, force: true });
    throw e;
  }
  return stats;
}
