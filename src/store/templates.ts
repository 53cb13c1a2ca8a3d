import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { revisionProblem, templateNameProblem } from "../core/names.js";
import { parseRevision, type TemplateRevision } from "../core/revision.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { parseSpec, type TemplateSpec } from "../core/spec.js";
import { exists, removeDirAtomic, replaceSymlink, sweepTemps, writeFileAtomic } from "./atomic.js";
import { withLock } from "./lock.js";
import { DataPaths } from "./paths.js";

export interface CurrentRevision {
  rev: string;
  dir: string;
  /** undefined when revision.json is missing or empty (the original's tolerance). */
  revision: TemplateRevision | undefined;
  layout: "current" | "legacy";
}

export interface BrokenTemplate {
  name: string;
  error: string;
}

/** The template store: specs, revisions and the `current` pointer under `<data>/templates`. */
export class TemplateStore {
  constructor(readonly paths: DataPaths = new DataPaths()) {}

  async exists(name: string): Promise<boolean> {
    return exists(this.paths.spec(name));
  }

  /**
   * Runs `fn` holding this template's writer lock. Every command that writes the store comes through
   * here, so this is where what killed processes left behind (a `template delete` trash directory of
   * hundreds of MiB, build and pull staging) is swept, before anything new is written.
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.paths.lock(name), { what: `template ${name}` }, async () => {
      await this.sweep(name);
      return fn();
    });
  }

  async loadSpec(name: string): Promise<TemplateSpec> {
    const file = this.paths.spec(name);
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT")
        throw new MvmError("not_found", `template ${name} does not exist`, {
          hint: "List available templates with 'mvmctl template list'.",
        });
      throw new MvmError("corrupt", `cannot read ${file}: ${(e as Error).message}`);
    }
    const spec = parseJsonFile(file, text, parseSpec);
    if (spec.template_id !== name)
      throw new MvmError("corrupt", `${file} is corrupt: template_id is ${JSON.stringify(spec.template_id)}`);
    return spec;
  }

  async writeSpec(spec: TemplateSpec): Promise<void> {
    await fs.mkdir(this.paths.template(spec.template_id), { recursive: true });
    await writeFileAtomic(this.paths.spec(spec.template_id), toJson(spec, false));
  }

  /** Template names with a readable template.json, and the entries that are broken. */
  async list(): Promise<{ templates: string[]; broken: BrokenTemplate[] }> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.paths.templates);
    } catch {
      return { templates: [], broken: [] };
    }
    const templates: string[] = [];
    const broken: BrokenTemplate[] = [];
    for (const name of entries.sort()) {
      if (name.startsWith(".")) continue; // temp and trash entries of atomic operations
      const problem = templateNameProblem(name);
      if (problem) {
        broken.push({ name, error: `not a valid template name: ${problem}` });
        continue;
      }
      try {
        await this.loadSpec(name);
        templates.push(name);
      } catch (e) {
        if (e instanceof MvmError && e.kind === "not_found") {
          // A directory without template.json: a non-local `init` layout or a leftover.
          const st = await fs.lstat(this.paths.template(name)).catch(() => undefined);
          if (st?.isDirectory())
            broken.push({ name, error: "no template.json (run 'mvmctl template create')" });
          else broken.push({ name, error: "not a directory" });
        } else broken.push({ name, error: (e as Error).message });
      }
    }
    return { templates, broken };
  }

  /** The revision id `current` names, in our layout or the original's; undefined if none. */
  async currentRevisionId(name: string): Promise<string | undefined> {
    let target: string;
    try {
      target = await fs.readlink(this.paths.current(name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "EINVAL") throw new MvmError("corrupt", `${this.paths.current(name)} is not a symlink`);
      throw e;
    }
    const m = /^(?:artifacts\/)?revisions\/([^/]+)\/?$/.exec(target);
    if (!m?.[1] || revisionProblem(m[1]))
      throw new MvmError("corrupt", `${this.paths.current(name)} points at an unexpected place: ${target}`);
    return m[1];
  }

  /** The directory of a revision: ours (artifacts/revisions/<rev>) or the legacy one (artifacts/<rev>). */
  async revisionDir(name: string, rev: string): Promise<string | undefined> {
    for (const dir of [this.paths.revision(name, rev), this.paths.legacyRevision(name, rev)]) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (st?.isDirectory()) return dir;
    }
    return undefined;
  }

  async loadRevisionAt(dir: string): Promise<TemplateRevision | undefined> {
    const file = join(dir, "revision.json");
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new MvmError("corrupt", `cannot read ${file}: ${(e as Error).message}`);
    }
    if (text.trim() === "") return undefined;
    return parseJsonFile(file, text, parseRevision);
  }

  async loadCurrent(name: string): Promise<CurrentRevision | undefined> {
    const rev = await this.currentRevisionId(name);
    if (!rev) return undefined;
    const dir = await this.revisionDir(name, rev);
    if (!dir)
      throw new MvmError("corrupt", `template ${name}: current revision ${rev} has no directory`, {
        hint: `Rebuild it with 'mvmctl template build ${name} --force'.`,
      });
    const layout = dir === this.paths.revision(name, rev) ? "current" : "legacy";
    return { rev, dir, revision: await this.loadRevisionAt(dir), layout };
  }

  /** Every revision id on disk, in either layout. */
  async listRevisions(name: string): Promise<string[]> {
    const out = new Set<string>();
    for (const dir of [this.paths.revisions(name), this.paths.artifacts(name)]) {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries)
        if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "revisions" && !revisionProblem(e.name))
          out.add(e.name);
    }
    return [...out].sort();
  }

  /** Moves `current` to a revision in our layout. Always the last step of an install. */
  async setCurrent(name: string, rev: string): Promise<void> {
    await replaceSymlink(this.paths.current(name), `artifacts/revisions/${rev}`);
  }

  async writeRevision(dir: string, rev: TemplateRevision): Promise<void> {
    await writeFileAtomic(join(dir, "revision.json"), toJson(rev));
  }

  async delete(name: string): Promise<void> {
    await removeDirAtomic(this.paths.template(name));
  }

  /** Removes temp directories of killed processes (pull/build staging, trash). */
  async sweep(name: string): Promise<void> {
    await sweepTemps(this.paths.templates);
    await sweepTemps(this.paths.template(name));
    await sweepTemps(this.paths.revisions(name));
  }
}
