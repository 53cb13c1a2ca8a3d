import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_METADATA_BYTES } from "../../core/artifact-limits.js";
import { CHECKSUMS_FILE } from "../../core/artifacts.js";
import { MvmError, usageError } from "../../core/errors.js";
import { revisionProblem, templateNameProblem } from "../../core/names.js";
import { copyShared, fsyncDir, tempSibling } from "../../host/files.js";
import { writeFileAtomic } from "../../store/atomic.js";
import { RegistryTree } from "./file-tree.js";
import { fileMode } from "../modes.js";
import { parseRemoteIndex, type RemoteIndex, renderRemoteIndex } from "../index.js";
import { sameTag, tagConflict } from "./tags.js";
import type {
  Copier,
  RegistryTransport,
  RemoteTag,
  RemoteTemplate,
  TagGuard,
  StoredObject,
  TransportKind,
  UploadBody,
  Uploaded,
} from "./transport.js";

// file:// registry: a directory laid out exactly like the S3 keys,
// <root>/templates/<id>/{current, revisions/<rev>/<file>, revisions/<rev>/checksums.json}.
// Every file is written under a temp name, fsynced and renamed, so a reader (or a crash) never sees
// half an object; `current` is written last by the push service. Nothing inside the root is followed
// through a symlink, and documents (index, `current`) are read only up to MAX_METADATA_BYTES.

export interface FileLocation {
  kind: "file";
  root: string;
}

export const fileKind: TransportKind<FileLocation> = {
  scheme: "file",
  layouts: ["mvm", "original"],
  credentialHint: "Remove the user:password@ part; file:// registries need no credentials.",
  parse(url) {
    try {
      return { kind: "file", root: fileURLToPath(url.trim()) };
    } catch (e) {
      throw usageError(`invalid registry ${JSON.stringify(url)}: ${(e as Error).message}`);
    }
  },
  describe: (loc) => `file://${loc.root}`,
  open: async (loc) => new FileTransport(loc),
};

const FLUSH_EVERY = 32 << 20;

export class FileTransport implements RegistryTransport, Copier {
  readonly kind = "file" as const;
  readonly display: string;
  private readonly tree: RegistryTree;

  constructor(private readonly loc: FileLocation) {
    this.display = fileKind.describe(loc);
    this.tree = new RegistryTree(loc.root);
  }

  private templateRel(template: string): string {
    return `templates/${template}`;
  }

  private revRel(template: string, rev: string): string {
    return `${this.templateRel(template)}/revisions/${rev}`;
  }

  async getCurrent(template: string): Promise<string | undefined> {
    const text = await this.tree.readText(`${this.templateRel(template)}/current`, MAX_METADATA_BYTES);
    if (text === undefined) return undefined;
    const rev = text.trim();
    if (rev === "")
      throw new MvmError("corrupt", `Registry current revision is empty for template ${template}`);
    return rev;
  }

  async getIndex(template: string, rev: string): Promise<RemoteIndex | undefined> {
    const rel = `${this.revRel(template, rev)}/${CHECKSUMS_FILE}`;
    const text = await this.tree.readText(rel, MAX_METADATA_BYTES);
    if (text === undefined) return undefined;
    return parseRemoteIndex(join(this.loc.root, rel), text, async (name) => {
      const f = await this.tree.open(`${this.revRel(template, rev)}/${name}`).catch(() => undefined);
      if (!f) return undefined;
      await f.fh.close();
      return f.size;
    });
  }

  async hasObject(template: string, rev: string, obj: Required<StoredObject>): Promise<boolean> {
    const f = await this.tree.open(`${this.revRel(template, rev)}/${obj.name}`).catch((e: unknown) => {
      // A symlink is refused where the object is read (pull); for a push it is simply not a copy.
      if (e instanceof MvmError) return undefined;
      throw e;
    });
    if (!f) return false;
    try {
      if (f.size !== obj.stored_size) return false;
      // Local disk reads are cheap next to a copy, and only an exact digest proves the content.
      const h = createHash("sha256");
      for await (const chunk of f.fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false }))
        h.update(chunk as Buffer);
      return h.digest("hex") === obj.stored_sha256;
    } finally {
      await f.fh.close();
    }
  }

  async copyObject(
    template: string,
    fromRev: string,
    toRev: string,
    obj: Required<StoredObject>,
  ): Promise<boolean> {
    if (!(await this.hasObject(template, fromRev, obj))) return false;
    const src = await this.tree.path(`${this.revRel(template, fromRev)}/${obj.name}`);
    const dst = await this.tree.path(`${this.revRel(template, toRev)}/${obj.name}`);
    await fs.mkdir(dirname(dst), { recursive: true });
    const tmp = tempSibling(dst);
    // Objects are only ever replaced by rename, never written in place, so a hard link is a safe copy.
    try {
      await fs.link(src, tmp);
    } catch {
      await copyShared(src, tmp);
    }
    try {
      await fs.rename(tmp, dst);
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    await fsyncDir(dirname(dst));
    return true;
  }

  async putObject(
    template: string,
    rev: string,
    obj: StoredObject,
    body: UploadBody,
    onBytes: (n: number) => void,
  ): Promise<Uploaded> {
    const path = await this.tree.path(`${this.revRel(template, rev)}/${obj.name}`);
    await fs.mkdir(dirname(path), { recursive: true });
    const tmp = tempSibling(path);
    const fh = await fs.open(tmp, "wx", fileMode(obj.name));
    // Flushing to disk as we go (one datasync in flight per FLUSH_EVERY bytes) overlaps the disk
    // writes with reading and hashing, instead of paying for all of them in the final fsync.
    let flushing: Promise<void> = Promise.resolve();
    let sinceFlush = 0;
    try {
      // One write in flight while the next chunk is read and hashed (chunks stay valid that long).
      let writing: Promise<void> = Promise.resolve();
      let pos = 0;
      const writeAt = async (chunk: Buffer, at: number) => {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, at + off);
          off += bytesWritten;
        }
      };
      for await (const chunk of body.chunks) {
        await writing;
        writing = writeAt(chunk, pos);
        // A failed write must not go unobserved while the next chunk is being read.
        writing.catch(() => {});
        pos += chunk.length;
        onBytes(chunk.length);
        sinceFlush += chunk.length;
        if (sinceFlush >= FLUSH_EVERY) {
          await flushing;
          flushing = fh.datasync();
          sinceFlush = 0;
        }
      }
      await writing;
      await flushing;
      await fh.sync();
      await fh.close();
      await fs.rename(tmp, path);
    } catch (e) {
      await fh.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      throw e;
    }
    await fsyncDir(dirname(path));
    return body.result();
  }

  async *getObject(template: string, rev: string, obj: Required<StoredObject>): AsyncIterable<Uint8Array> {
    const rel = `${this.revRel(template, rev)}/${obj.name}`;
    const f = await this.tree.open(rel);
    if (!f)
      throw new MvmError(
        "not_found",
        `registry object ${template}/${rev}/${obj.name} is missing (${join(this.loc.root, rel)})`,
      );
    // The stream owns the handle from here and closes it when it ends or is abandoned.
    yield* f.fh.createReadStream({ highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  async commit(template: string, rev: string, index: RemoteIndex): Promise<undefined> {
    const path = await this.tree.path(`${this.revRel(template, rev)}/${CHECKSUMS_FILE}`);
    await writeFileAtomic(path, renderRemoteIndex(index));
  }

  async setCurrent(template: string, rev: string): Promise<void> {
    const path = await this.tree.path(`${this.templateRel(template)}/current`);
    await writeFileAtomic(path, `${rev}\n`);
  }

  private tagRel(template: string, tag: string): string {
    return `${this.templateRel(template)}/tags/${tag}`;
  }

  async getTag(template: string, tag: string): Promise<RemoteTag | undefined> {
    const rel = this.tagRel(template, tag);
    const text = await this.tree.readText(rel, MAX_METADATA_BYTES);
    if (text === undefined) return undefined;
    const rev = text.trim();
    if (revisionProblem(rev))
      throw new MvmError("corrupt", `${join(this.loc.root, rel)} does not name a revision`);
    return { rev, version: rev };
  }

  /**
   * The tag moves under an exclusive lock file created with no-replace semantics (O_EXCL), so two
   * pushes never both see the expected value: the second finds the lock or the moved tag.
   */
  async putTag(
    template: string,
    tag: string,
    rev: string,
    expected: RemoteTag | undefined,
  ): Promise<TagGuard> {
    const file = await this.tree.path(this.tagRel(template, tag));
    await fs.mkdir(dirname(file), { recursive: true });
    const lock = join(dirname(file), `.${tag}.lock`);
    let held: fs.FileHandle;
    try {
      held = await fs.open(lock, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      throw new MvmError("locked", `tag ${template}:${tag} is being moved by another push right now`, {
        hint: `Push again when it is done; if no push is running, remove ${lock}.`,
      });
    }
    try {
      await held.close();
      const now = await this.getTag(template, tag);
      if (!sameTag(now, expected)) throw tagConflict(template, tag, now);
      await writeFileAtomic(file, `${rev}\n`);
      return "conditional";
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  async list(): Promise<RemoteTemplate[]> {
    const root = await fs.stat(this.loc.root).catch(() => undefined);
    if (!root?.isDirectory())
      throw new MvmError(
        "not_found",
        `registry ${this.display} does not exist (no directory ${this.loc.root})`,
        { hint: "Check the path, or push a template there first." },
      );
    const base = await this.tree.path("templates");
    const names = await fs.readdir(base).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return [] as string[];
      throw new MvmError("external", `cannot read ${base}: ${e.code ?? e.message}`);
    });
    const out: RemoteTemplate[] = [];
    for (const name of names.sort()) {
      if (name.startsWith(".") || templateNameProblem(name)) continue;
      const revisions = await this.tree.path(`${this.templateRel(name)}/revisions`).catch(() => undefined);
      if (!revisions) continue; // a link: not listed, refused when read
      const revs = await fs.readdir(revisions).catch(() => [] as string[]);
      const committed: string[] = [];
      for (const r of revs.sort()) {
        if (revisionProblem(r)) continue;
        const st = await fs.lstat(join(revisions, r, CHECKSUMS_FILE)).catch(() => undefined);
        if (st?.isFile() && !(await fs.lstat(join(revisions, r))).isSymbolicLink()) committed.push(r);
      }
      const current = (await this.getCurrent(name).catch(() => undefined)) ?? null;
      out.push({ name, current, revisions: committed });
    }
    return out;
  }

  async close(): Promise<void> {}
}
