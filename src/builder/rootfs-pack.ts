import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { fsyncDir, fsyncFile, tempSibling } from "../host/files.js";

// Packs a rootfs/ tree (a mkGuest output built offline, where Nix has no mke2fs) into an ext4
// image that is byte-identical for identical trees: fixed UUID, hash seed and creation time, every
// inode owned by root with fixed timestamps, entries in a fixed order. The file is sparse and has
// free space for the guest to write to.

export interface PackOptions {
  /** Free space left for the guest, in bytes (default 256 MiB). */
  freeBytes?: number;
  /** Filesystem UUID, also used as the directory hash seed. */
  uuid?: string;
  label?: string;
  /** Seconds since the epoch stamped on every inode and the superblock (default 1, as in the Nix store). */
  timestamp?: number;
  onProgress?: (message: string) => void;
}

export interface PackResult {
  file: string;
  sizeBytes: number;
  inodes: number;
}

const DEFAULT_UUID = "6d766d00-7266-4000-8000-000000000001";
const BLOCK = 4096;

interface TreeStats {
  entries: number;
  dataBytes: number;
  /** Regular files with more than one link: mke2fs would keep them linked. */
  hardLinked: number;
}

async function walk(dir: string, stats: TreeStats): Promise<void> {
  const names = await fs.readdir(dir);
  for (const name of names) {
    const p = join(dir, name);
    const st = await fs.lstat(p);
    stats.entries++;
    if (st.isDirectory()) {
      stats.dataBytes += BLOCK;
      await walk(p, stats);
    } else if (st.isFile()) {
      stats.dataBytes += Math.ceil(st.size / BLOCK) * BLOCK;
      if (st.nlink > 1) stats.hardLinked++;
    } else if (st.isSymbolicLink() && st.size > 59) {
      stats.dataBytes += BLOCK; // longer targets do not fit in the inode
    }
  }
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv, pkg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "ENOENT"
          ? new MvmError("not_found", `${program} is missing (Debian package ${pkg})`, {
              hint: `Install it: apt-get install -y ${pkg}`,
            })
          : new MvmError("external", `cannot run ${program}: ${e.message}`),
      ),
    );
    child.on("close", (code) => {
      const stderr = Buffer.concat(err).toString("utf8").trim();
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else
        reject(
          new MvmError(
            "external",
            `${program} failed (exit ${code}): ${stderr.split("\n").slice(-3).join(" ")}`,
          ),
        );
    });
  });
}

/** Inode numbers in use, from dumpe2fs's per-group "Free inodes:" ranges. */
export function usedInodes(dumpe2fs: string): number[] {
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dumpe2fs)?.[1]);
  if (!perGroup) throw new MvmError("internal", "dumpe2fs output has no 'Inodes per group'");
  const used: number[] = [];
  const groups = dumpe2fs.split(/^Group (\d+):/m);
  for (let i = 1; i + 1 < groups.length; i += 2) {
    const g = Number(groups[i]);
    const body = groups[i + 1] ?? "";
    const first = g * perGroup + 1;
    const last = first + perGroup - 1;
    const free = new Set<number>();
    const m = /^\s*Free inodes:\s*(.*)$/m.exec(body);
    for (const part of (m?.[1] ?? "").split(",")) {
      const r = part.trim();
      if (!r) continue;
      const [a, b] = r.split("-").map(Number);
      if (a === undefined || Number.isNaN(a)) continue;
      for (let n = a; n <= (b ?? a); n++) free.add(n);
    }
    for (let n = first; n <= last; n++) if (!free.has(n)) used.push(n);
  }
  return used;
}

export async function packRootfs(
  treeDir: string,
  outFile: string,
  opts: PackOptions = {},
): Promise<PackResult> {
  const progress = opts.onProgress ?? (() => {});
  const st = await fs.stat(treeDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new MvmError("not_found", `rootfs tree ${treeDir} is not a directory`);
  const stats: TreeStats = { entries: 1, dataBytes: BLOCK, hardLinked: 0 };
  await walk(treeDir, stats);
  // Hard links depend on the store (`nix store optimise` links identical files after the fact), not
  // on the tree's content: pack from a copy without them so the image does not depend on it either.
  let source = treeDir;
  let staging: string | undefined;
  if (stats.hardLinked > 0) {
    staging = tempSibling(outFile, "tmp");
    await fs.mkdir(staging);
    progress(`copying the tree (${stats.hardLinked} hard-linked files)`);
    await run(
      "cp",
      ["-R", "-P", "--preserve=mode,timestamps", `${treeDir}/.`, staging],
      process.env,
      "coreutils",
    );
    source = staging;
  }
  const inodes = Math.max(1024, Math.ceil((stats.entries * 1.2 + 256) / 256) * 256 + 4096);
  const metadata = inodes * 256 + 16 * 1024 * 1024; // inode tables, bitmaps, journal
  const free = opts.freeBytes ?? 256 * 1024 * 1024;
  const mib = 1024 * 1024;
  const size = Math.max(64 * mib, Math.ceil((stats.dataBytes * 1.1 + metadata + free) / (4 * mib)) * 4 * mib);
  const uuid = opts.uuid ?? DEFAULT_UUID;
  const stamp = String(opts.timestamp ?? 1);
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: stamp, LC_ALL: "C" };
  const tmp = tempSibling(outFile, "tmp");
  progress(`packing ${stats.entries} entries into a ${Math.round(size / mib)} MiB ext4 image`);
  try {
    await run(
      "mke2fs",
      [
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        String(BLOCK),
        "-N",
        String(inodes),
        "-m",
        "0",
        "-U",
        uuid,
        "-E",
        `hash_seed=${uuid},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0`,
        "-L",
        opts.label ?? "mvm",
        "-d",
        source,
        tmp,
        `${size / 1024}k`,
      ],
      env,
      "e2fsprogs",
    );
    // mke2fs copies owners and atime/ctime from the source; pin them so the image depends only on
    // the tree's names, contents and modes.
    const used = usedInodes(await run("dumpe2fs", [tmp], env, "e2fsprogs")).filter((n) => n === 2 || n >= 11);
    const cmds: string[] = [];
    for (const n of used) {
      for (const f of ["uid", "gid"]) cmds.push(`sif <${n}> ${f} 0`);
      for (const f of ["atime", "mtime", "ctime", "crtime"]) cmds.push(`sif <${n}> ${f} ${stamp}`);
    }
    const cmdFile = tempSibling(outFile, "tmp");
    await fs.writeFile(cmdFile, `${cmds.join("\n")}\n`);
    try {
      await run("debugfs", ["-w", "-f", cmdFile, tmp], env, "e2fsprogs");
    } finally {
      await fs.rm(cmdFile, { force: true });
    }
    await fsyncFile(tmp);
    await fs.rename(tmp, outFile);
    await fsyncDir(join(outFile, ".."));
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  } finally {
    if (staging) await fs.rm(staging, { recursive: true, force: true });
  }
  return { file: outFile, sizeBytes: size, inodes };
}
