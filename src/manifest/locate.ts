import { promises as fs } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MvmError } from "../core/errors.js";
import { MANIFEST_FILE, MANIFEST_MAX_BYTES, parseManifest, type TemplateManifest } from "../core/manifest.js";

export interface LoadedManifest {
  /** Absolute path of mvm.toml. */
  file: string;
  /** The directory it lives in; a relative `flake` is resolved against it. */
  dir: string;
  manifest: TemplateManifest;
}

async function isFile(path: string): Promise<boolean> {
  return (await fs.stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function present(path: string): Promise<boolean> {
  return (await fs.lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * The nearest mvm.toml at or above `start`. The walk stops at a directory holding `.git` (the top of
 * the project) or at the filesystem root, so a manifest outside the project is never picked up.
 */
export async function findManifest(start: string): Promise<string | undefined> {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, MANIFEST_FILE);
    if (await isFile(candidate)) return candidate;
    if (await present(join(dir, ".git"))) return undefined;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Reads and validates one manifest file, bounded in size. */
export async function loadManifest(file: string): Promise<LoadedManifest> {
  const abs = resolve(file);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(abs, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new MvmError("not_found", `${abs} does not exist`);
    throw new MvmError("not_found", `cannot read ${abs}: ${(e as Error).message}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new MvmError("usage", `${abs} is not a file`);
    if (st.size > MANIFEST_MAX_BYTES)
      throw new MvmError(
        "usage",
        `${abs} is larger than ${MANIFEST_MAX_BYTES} bytes; a manifest is a few lines`,
      );
    const text = (await handle.readFile()).toString("utf8");
    return { file: abs, dir: dirname(abs), manifest: parseManifest(abs, text) };
  } finally {
    await handle.close();
  }
}

/**
 * The manifest for a command: `-f FILE` when given; else `target` (a directory holding mvm.toml, or
 * the file itself); else the nearest one walking up from `cwd`.
 */
export async function resolveManifest(opts: {
  file?: string;
  target?: string;
  cwd?: string;
}): Promise<LoadedManifest> {
  if (opts.file !== undefined) return loadManifest(resolve(opts.cwd ?? process.cwd(), opts.file));
  if (opts.target !== undefined) {
    const t = resolve(opts.cwd ?? process.cwd(), opts.target);
    const st = await fs.stat(t).catch(() => undefined);
    if (!st) throw new MvmError("not_found", `${t} does not exist`);
    if (st.isFile()) return loadManifest(t);
    const inDir = join(t, MANIFEST_FILE);
    if (!(await isFile(inDir)))
      throw new MvmError("not_found", `no ${MANIFEST_FILE} in ${t}`, {
        hint: "Create one with 'mvmctl template init NAME --local', or name it with -f FILE.",
      });
    return loadManifest(inDir);
  }
  const cwd = resolve(opts.cwd ?? process.cwd());
  const found = await findManifest(cwd);
  if (!found)
    throw new MvmError("not_found", `no ${MANIFEST_FILE} in ${cwd} or above it (up to the project's .git)`, {
      hint: "Create one with 'mvmctl template init NAME --local', or name it with -f FILE.",
    });
  return loadManifest(found);
}
