import { promises as fs } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { CHECKSUMS_FILE, REVISION_FILE, SPEC_FILE } from "../core/artifacts.js";
import { MvmError } from "../core/errors.js";
import { parseRevision } from "../core/revision.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { sha256File } from "../host/file-hash.js";
import { sha256Files } from "../host/hash-pool.js";
import { readChecksums } from "../store/checksums.js";
import { templateHealth, unhealthyError } from "../store/health.js";
import type { TemplateStore } from "../store/templates.js";
import { remoteRevision } from "./pull.js";
import type { RegistryLayout } from "./index.js";
import { ORIGINAL_KERNEL, originalRevisionJson, pushedSpec } from "./push.js";
import type { RegistryTransport } from "./transports/transport.js";

// verify: every file of a local revision against its checksums.json, or (--remote)
// against the registry's index of the same revision, whose objects must also be present.

export type FileStatus = "OK" | "MISSING" | "MISMATCH" | "NOT_IN_REGISTRY" | "REGISTRY_OBJECT_MISSING";

export interface VerifiedFile {
  name: string;
  status: FileStatus;
  expected: string | null;
  actual: string | null;
}

export interface VerifyResult {
  template: string;
  revision: string;
  path: string;
  against: string;
  ok: boolean;
  files: VerifiedFile[];
}

async function hashIfPresent(path: string): Promise<string | null> {
  const st = await fs.stat(path).catch(() => undefined);
  if (!st?.isFile()) return null;
  return sha256File(path);
}

/** SHA-256 of each of `paths` that is a file (null for the others), several files at once. */
async function hashAllPresent(paths: readonly string[]): Promise<(string | null)[]> {
  const present = await Promise.all(
    paths.map((p) =>
      fs.stat(p).then(
        (st) => st.isFile(),
        () => false,
      ),
    ),
  );
  const digests = await sha256Files(paths.filter((_, i) => present[i]));
  let next = 0;
  return present.map((isFile) => (isFile ? (digests[next++] as string) : null));
}

/**
 * What push sends for files it generates: revision.json without its snapshot (`--no-snapshot`) and
 * template.json (not kept in a locally built revision dir). Their SHA-256s, when they apply.
 */
async function generatedShas(
  store: TemplateStore,
  template: string,
  dir: string,
  layout: RegistryLayout = "mvm",
): Promise<Record<string, string>> {
  const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  const file = join(dir, REVISION_FILE);
  const out: Record<string, string> = {};
  try {
    const rev = parseJsonFile(file, await fs.readFile(file, "utf8"), parseRevision);
    if (layout === "original") out[REVISION_FILE] = sha(originalRevisionJson(rev));
    else if (rev.snapshot !== null) out[REVISION_FILE] = sha(toJson({ ...rev, snapshot: null }));
    out[SPEC_FILE] = sha(pushedSpec(rev, await store.loadSpec(template)));
  } catch {
    // Nothing generated can be compared; the plain comparison stands.
  }
  return out;
}

async function localRevision(store: TemplateStore, template: string, revision: string | undefined) {
  if (!(await store.exists(template)) && (await store.listRevisions(template)).length === 0)
    throw new MvmError("not_found", `template ${template} does not exist`, {
      hint: "List available templates with 'mvmctl template list'.",
    });
  if (revision === undefined) {
    // The current revision, as every command sees it; a revision that is there but damaged is
    // exactly what verify is for, so only a pointer to nothing stops it.
    const health = await templateHealth(store, template);
    if (!health.current) throw unhealthyError(health);
    return { rev: health.current.rev, dir: health.current.dir };
  }
  const rev = revision;
  const dir = await store.revisionDir(template, rev);
  if (!dir) throw new MvmError("not_found", `template ${template} has no revision ${rev}`);
  return { rev, dir };
}

export async function verifyLocal(
  store: TemplateStore,
  template: string,
  revision: string | undefined,
): Promise<VerifyResult> {
  const { rev, dir } = await localRevision(store, template, revision);
  const sums = await readChecksums(dir);
  const listed = Object.entries(sums.files);
  const hashed = await hashAllPresent(listed.map(([name]) => join(dir, name)));
  const files: VerifiedFile[] = [];
  for (const [i, [name, expected]] of listed.entries()) {
    let actual = hashed[i] ?? null;
    // The original's push lists template.json, the template's spec, which stays beside the revisions:
    // it matches when the spec here, or the one this revision was built from, is what was pushed.
    if (name === SPEC_FILE && actual === null) {
      actual = await hashIfPresent(store.paths.spec(template));
      if (actual !== expected && (await generatedShas(store, template, dir))[SPEC_FILE] === expected)
        actual = expected;
    }
    files.push({
      name,
      expected,
      actual,
      status: actual === null ? "MISSING" : actual === expected ? "OK" : "MISMATCH",
    });
  }
  return {
    template,
    revision: rev,
    path: dir,
    against: join(dir, CHECKSUMS_FILE),
    ok: files.every((f) => f.status === "OK"),
    files,
  };
}

export async function verifyRemote(
  store: TemplateStore,
  transport: RegistryTransport,
  template: string,
  revision: string | undefined,
): Promise<VerifyResult> {
  const { rev, dir } = await localRevision(store, template, revision);
  const { index } = await remoteRevision(transport, template, rev);
  const local = await readChecksums(dir).catch(() => undefined);
  // In the original layout the kernel is stored as `vmlinux`, whatever its name in this revision.
  const kernel = (await store.loadRevisionAt(dir).catch(() => undefined))?.artifact_paths.vmlinux;
  const renamed = index.layout === "original" && kernel !== undefined && kernel !== ORIGINAL_KERNEL;
  const localNames = Object.keys(local?.files ?? {}).filter((n) => !(renamed && n === kernel));
  const names = new Set([...Object.keys(index.files), ...localNames]);
  const generated = await generatedShas(store, template, dir, index.layout);
  const sorted = [...names].sort();
  const localPath = (name: string) =>
    join(dir, renamed && name === ORIGINAL_KERNEL ? (kernel as string) : name);
  const hashed = await hashAllPresent(sorted.map(localPath));
  const files: VerifiedFile[] = [];
  for (const [i, name] of sorted.entries()) {
    const expected = index.files[name] ?? null;
    let actual = hashed[i] ?? null;
    // Generated files match when they equal what push would send from this revision.
    if (expected !== null && actual !== expected && generated[name] === expected) actual = expected;
    let status: FileStatus;
    if (expected === null) status = "NOT_IN_REGISTRY";
    else if (actual === null) status = "MISSING";
    else if (actual !== expected) status = "MISMATCH";
    else {
      const form = index.transfer[name]!;
      const held = await transport.hasObject(template, rev, {
        name,
        encoding: form.encoding,
        sha256: expected,
        size: form.size,
        stored_sha256: form.stored_sha256,
        stored_size: form.stored_size,
      });
      status = held ? "OK" : "REGISTRY_OBJECT_MISSING";
    }
    files.push({ name, expected, actual, status });
  }
  // A revision pushed with --no-snapshot legitimately leaves snapshot files at home.
  const ok = files.every(
    (f) => f.status === "OK" || (f.status === "NOT_IN_REGISTRY" && f.name.startsWith("snapshot/")),
  );
  return {
    template,
    revision: rev,
    path: dir,
    against: `${transport.display} ${template}/${rev}`,
    ok,
    files,
  };
}
