import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";

// A VM's disk is a fresh qcow2 overlay over an immutable image (the revision's rootfs, or a
// snapshot's saved disk). Every fresh overlay over the same image is the same few hundred bytes of
// qcow2 metadata, so the first one made by `qemu-img create` is kept in a cache and later starts copy
// it instead of starting qemu-img again. The cache key is the image's absolute path, its format and
// its identity (device, inode, size, modification time): a replaced image gets a new overlay.

async function overlayKey(backing: string, format: string): Promise<string | undefined> {
  try {
    const st = await fs.stat(backing, { bigint: true });
    return createHash("sha256")
      .update(`${resolve(backing)}\0${format}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}`)
      .digest("hex")
      .slice(0, 32);
  } catch {
    return undefined;
  }
}

/**
 * Puts a fresh overlay of `backing` at `dest`: a copy of the cached one when there is one, else made
 * by `create()` (which writes `dest`) and then cached. Without a cache dir it only calls `create()`.
 */
export async function freshOverlay(
  backing: string,
  format: "raw" | "qcow2",
  dest: string,
  cacheDir: string | undefined,
  create: () => Promise<void>,
): Promise<void> {
  const key = cacheDir ? await overlayKey(backing, format) : undefined;
  const cached = key && cacheDir ? join(cacheDir, "overlays", `${key}.qcow2`) : undefined;
  if (cached) {
    try {
      await fs.copyFile(cached, dest, fs.constants.COPYFILE_EXCL);
      return;
    } catch {
      await fs.rm(dest, { force: true });
    }
  }
  await create();
  if (!cached) return;
  const tmp = `${cached}.${process.pid}.tmp`;
  await fs
    .mkdir(join(cacheDir as string, "overlays"), { recursive: true, mode: 0o700 })
    .then(() => fs.copyFile(dest, tmp))
    .then(() => fs.rename(tmp, cached))
    .catch(() => fs.rm(tmp, { force: true }).catch(() => {}));
}
