import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { pidAlive } from "../host/process.js";
import { fsyncDir, tempSibling } from "../host/files.js";

export { fsyncDir, tempSibling };

/** Writes a file so that readers see the old content or the new one, never a mix (temp, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  const h = await fs.open(tmp, "wx", mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (e) {
    await h.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await h.close();
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

/** Points `link` at `target` atomically (symlink under a temp name, then rename over the old link). */
export async function replaceSymlink(link: string, target: string): Promise<void> {
  const tmp = tempSibling(link, "link");
  await fs.symlink(target, tmp);
  try {
    await fs.rename(tmp, link);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(link));
}

/** Makes a directory disappear atomically (rename to a hidden name), then deletes it. */
export async function removeDirAtomic(dir: string): Promise<void> {
  const trash = tempSibling(dir, "trash");
  try {
    await fs.rename(dir, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  await fsyncDir(dirname(dir));
  await fs.rm(trash, { recursive: true, force: true });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes hidden temp/trash entries that a killed process left behind in `dir`. */
export async function sweepTemps(dir: string, olderThanMs = 0): Promise<number> {
  let n = 0;
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return 0;
  }
  for (const e of entries) {
    const m = /\.(?:tmp|trash|link|build|pull)-(\d+)-[0-9a-f]{8}$/.exec(e);
    if (!m?.[1] || !e.startsWith(".")) continue;
    const pid = Number(m[1]);
    if (pidAlive(pid)) continue;
    const p = join(dir, e);
    try {
      const st = await fs.lstat(p);
      if (Date.now() - st.mtimeMs < olderThanMs) continue;
      await fs.rm(p, { recursive: true, force: true });
      n++;
    } catch {
      // Already gone: another sweeper got there first.
    }
  }
  return n;
}
