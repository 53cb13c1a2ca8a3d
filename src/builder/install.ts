import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import {
  CHECKSUMS_FILE,
  FC_BASE_FILE,
  INITRD_NAME,
  KERNEL_NAMES,
  REVISION_FILE,
  ROOTFS_NAME,
} from "../core/artifacts.js";
import { fsyncDir } from "../host/files.js";

// Making a staged revision visible. A new revision appears in one rename of its directory. A revision
// that already exists (same store hash: `--force`, or a directory an older mvmctl left incomplete) is
// updated file by file, each file renamed over its old self, metadata last — so that at every instant
// the directory holds a complete revision, and a VM still reading the old files keeps its open inodes.

/** Renames the staging directory to `finalDir`, which must not exist. */
export async function installNew(staging: string, finalDir: string): Promise<void> {
  await fsyncDir(staging);
  await fs.mkdir(dirname(finalDir), { recursive: true });
  await fs.rename(staging, finalDir);
  await fsyncDir(dirname(finalDir));
}

const ORDER = [...KERNEL_NAMES, INITRD_NAME, ROOTFS_NAME, FC_BASE_FILE, REVISION_FILE, CHECKSUMS_FILE];

/** Moves every file of `staging` into the existing `finalDir`, then removes `staging`. */
export async function replaceInto(staging: string, finalDir: string): Promise<void> {
  const staged = new Set(await fs.readdir(staging));
  for (const name of ORDER) if (staged.has(name)) await fs.rename(join(staging, name), join(finalDir, name));
  // A kernel or initrd the new revision no longer has (renamed kernel, dropped initrd) goes last.
  for (const name of [...KERNEL_NAMES, INITRD_NAME])
    if (!staged.has(name)) await fs.rm(join(finalDir, name), { force: true });
  await fsyncDir(finalDir);
  await fs.rm(staging, { recursive: true, force: true });
}
