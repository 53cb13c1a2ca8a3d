import { promises as fs } from "node:fs";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import { MvmError } from "../core/errors.js";
import { fsyncDir, tempSibling } from "../host/files.js";
import { sweepTemps } from "../store/atomic.js";

// Writes a scaffold all-or-nothing. Existing files are kept unless `force`. Every new content goes to a
// temp sibling first (written and fsynced); only when all of them are staged are they renamed into
// place. If anything fails, the temps, the files this call created and the directories it created are
// removed again, and files it would have overwritten still hold their old content.

export interface ScaffoldFile {
  /** Relative to the scaffold directory, "/"-separated. */
  path: string;
  content: string;
}

export type FileStatus = "written" | "overwritten" | "kept";

export interface FileOutcome {
  path: string;
  status: FileStatus;
}

interface Staged {
  rel: string;
  target: string;
  temp: string;
  existed: boolean;
}

function checkedTarget(dir: string, rel: string): string {
  const n = normalize(rel);
  if (isAbsolute(n) || n === ".." || n.startsWith(`..${sep}`) || n === ".")
    throw new MvmError("internal", `scaffold file ${JSON.stringify(rel)} would leave the template directory`);
  return join(dir, n);
}

async function kind(path: string): Promise<"file" | "dir" | "other" | "none"> {
  try {
    const st = await fs.lstat(path);
    if (st.isDirectory()) return "dir";
    return st.isFile() || st.isSymbolicLink() ? "file" : "other";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "none";
    throw e;
  }
}

/** mkdir -p that remembers the topmost directory it created, so a rollback can remove exactly that. */
async function mkdirTracked(path: string, created: string[]): Promise<void> {
  const first = await fs.mkdir(path, { recursive: true });
  if (first !== undefined) created.push(first);
}

export async function writeScaffold(
  dir: string,
  files: ScaffoldFile[],
  opts: { force: boolean },
): Promise<FileOutcome[]> {
  // The scaffold directory itself may be a symlink to a directory; its files are never followed.
  const dirStat = await fs.stat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (dirStat && !dirStat.isDirectory()) throw new MvmError("exists", `${dir} exists and is not a directory`);
  const createdDirs: string[] = [];
  const staged: Staged[] = [];
  const placed: Staged[] = [];
  const outcomes: FileOutcome[] = [];
  try {
    await mkdirTracked(dir, createdDirs);
    // Temps a killed earlier run left behind (their process is gone) are removed first.
    for (const d of new Set(files.map((f) => dirname(checkedTarget(dir, f.path))))) await sweepTemps(d);
    for (const f of files) {
      const target = checkedTarget(dir, f.path);
      const k = await kind(target);
      if (k === "dir" || k === "other")
        throw new MvmError("exists", `${target} exists and is not a regular file`);
      if (k === "file" && !opts.force) {
        outcomes.push({ path: f.path, status: "kept" });
        continue;
      }
      await mkdirTracked(dirname(target), createdDirs);
      const temp = tempSibling(target);
      const s: Staged = { rel: f.path, target, temp, existed: k === "file" };
      staged.push(s);
      const h = await fs.open(temp, "wx", 0o644);
      try {
        await h.writeFile(f.content);
        await h.sync();
      } finally {
        await h.close();
      }
      outcomes.push({ path: f.path, status: s.existed ? "overwritten" : "written" });
    }
    for (const s of staged) {
      await fs.rename(s.temp, s.target);
      placed.push(s);
    }
    for (const d of new Set(staged.map((s) => dirname(s.target)))) await fsyncDir(d);
    if (createdDirs.length > 0) await fsyncDir(dirname(dir));
    return outcomes;
  } catch (e) {
    for (const s of staged) await fs.rm(s.temp, { force: true }).catch(() => {});
    for (const s of placed) if (!s.existed) await fs.rm(s.target, { force: true }).catch(() => {});
    for (const d of createdDirs.reverse()) await fs.rm(d, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}
