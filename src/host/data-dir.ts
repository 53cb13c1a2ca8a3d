import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MvmError } from "../core/errors.js";

// The data dir is checked once, before a command touches it: it must be a directory this process can
// create files in. Missing directories are created one level at a time, because a recursive mkdir
// whose parent refuses new entries (procfs, sysfs) never returns on Node 20. The data dir itself is
// created private to its owner (0700): it holds root filesystem images, snapshots of guest memory,
// console and build logs, none of which other local users may read. An existing directory keeps the
// mode its owner gave it.

const REASONS: Record<string, string> = {
  ENOENT: "this filesystem does not allow creating it",
  EPERM: "the operation is not permitted",
  EACCES: "permission denied",
  EROFS: "the filesystem is read-only",
  ENOTDIR: "a path component is a file",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is exhausted",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the path is too long",
};

/** Where the data dir's location came from, for messages: the variable a user would change. */
export function dataDirOrigin(env: NodeJS.ProcessEnv = process.env): string {
  return env.MVM_DATA_DIR?.trim() ? "MVM_DATA_DIR" : "HOME";
}

function unusable(root: string, origin: string, why: string): MvmError {
  return new MvmError("unsupported", `the data dir ${root} (from ${origin}) is not usable: ${why}`, {
    hint:
      origin === "MVM_DATA_DIR"
        ? "Point MVM_DATA_DIR at a directory you can write to, or unset it to use $HOME/.mvm."
        : "Set MVM_DATA_DIR to a directory you can write to.",
  });
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  return REASONS[code] ? `${REASONS[code]} (${code})` : (e as Error).message;
}

/** The nearest existing ancestor of `path` (or `path` itself) and the missing levels below it, top first. */
async function splitExisting(path: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let p = path;
  for (;;) {
    try {
      await fs.lstat(p);
      return { existing: p, missing };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") return { existing: p, missing };
      const parent = dirname(p);
      if (parent === p) return { existing: p, missing };
      missing.unshift(p);
      p = parent;
    }
  }
}

/**
 * Makes sure the data dir exists and is a writable directory, creating missing levels; fails at once
 * with one line naming the directory, the variable that chose it and the reason.
 */
export async function ensureDataDir(root: string, origin: string = dataDirOrigin()): Promise<void> {
  const dir = resolve(root);
  const { existing, missing } = await splitExisting(dir);
  const st = await fs.stat(existing).catch((e: unknown) => {
    throw unusable(dir, origin, `cannot inspect ${existing}: ${reason(e)}`);
  });
  if (!st.isDirectory())
    throw unusable(
      dir,
      origin,
      existing === dir ? "it is not a directory" : `${existing} is not a directory`,
    );
  for (const level of missing) {
    try {
      await fs.mkdir(level, { mode: level === dir ? 0o700 : 0o777 });
    } catch (e) {
      const raced = (e as NodeJS.ErrnoException).code === "EEXIST" && (await isDirectory(level));
      if (!raced) throw unusable(dir, origin, `cannot create ${level}: ${reason(e)}`);
    }
  }
  // access(2) says yes to root even where no file can be created (procfs), so create one for real.
  const probe = join(dir, `.probe-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const h = await fs.open(probe, "wx", 0o600);
    await h.close();
  } catch (e) {
    throw unusable(dir, origin, `cannot create files in it: ${reason(e)}`);
  }
  await fs.rm(probe, { force: true });
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
