import { loadRefs, recordDigest, updateRefs } from "../store/refs.js";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { KERNEL_NAMES, REVISION_FILE, SPARSE_FILES, SPEC_FILE } from "../core/artifacts.js";
import type { Checksums } from "../core/checksums.js";
import { MvmError } from "../core/errors.js";
import { parseRevision, type TemplateRevision } from "../core/revision.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { formatBytes } from "../core/sizes.js";
import type { TemplateSpec } from "../core/spec.js";
import { readChecksums, sha256File, writeChecksums } from "../store/checksums.js";
import { DigestCache, type FileIdentity, fileIdentity } from "../store/digest-cache.js";
import type { TemplateStore } from "../store/templates.js";
import { openBody, type Source } from "./bodies.js";
import {
  CHECKSUMS_SCHEMA,
  type Encoding,
  type RegistryLayout,
  type RemoteIndex,
  type StoredForm,
} from "./index.js";
import { mapLimit } from "./limit.js";
import type { ProgressSink } from "./progress.js";
import { withRetry } from "./retry.js";
import { SPARSE_ENCODING } from "./sparse.js";
import { kindFor } from "./location.js";
import { TRANSPORT_KINDS } from "./transports/index.js";
import {
  isCopier,
  type RegistryTransport,
  type RemoteTag,
  type StoredObject,
  type TagGuard,
} from "./transports/transport.js";

// push: every file a pulled revision needs to run (spec, revision.json, kernel,
// initrd, rootfs, snapshot files), objects first, then the index (checksums.json / manifest), then
// `current`. Files are hashed while they stream and must match the revision's checksums.json.

/** Files that are mostly zeros and travel as their non-zero extents. */
const SPARSE = new Set(SPARSE_FILES);

export function encodingFor(name: string, layout: RegistryLayout = "mvm"): Encoding {
  return layout === "mvm" && SPARSE.has(name) ? SPARSE_ENCODING : "identity";
}

/** The kernel's name in the original's registry and revision layout. */
export const ORIGINAL_KERNEL = "vmlinux";

/** revision.json as the original layout pushes it: the kernel named `vmlinux`, no snapshot. */
export function originalRevisionJson(revision: TemplateRevision): string {
  return toJson({
    ...revision,
    artifact_paths: { ...revision.artifact_paths, vmlinux: ORIGINAL_KERNEL },
    snapshot: null,
  });
}

export interface PushOptions {
  template: string;
  revision?: string;
  /** false with --no-snapshot: snapshot files stay home and revision.json loses its snapshot field. */
  snapshot: boolean;
  /**
   * "original": what the original mvm reads: every object the file itself (no sparse1), the kernel as
   * `vmlinux`, the index without `transfer`, no snapshot (the original restores only its own).
   */
  layout: RegistryLayout;
  /** Tags to point at the pushed revision besides the local tags that already name it. */
  tags?: string[];
  progress: ProgressSink;
}

export interface PushedFile {
  name: string;
  size: number;
  encoding: Encoding;
  stored_size: number;
  stored_sha256: string;
  uploaded: boolean;
}

export interface PushResult {
  template: string;
  revision: string;
  registry: string;
  files: PushedFile[];
  uploaded_bytes: number;
  skipped_bytes: number;
  snapshot: boolean;
  layout: RegistryLayout;
  /** Digest of the pushed manifest where the registry addresses revisions by digest (OCI), else null. */
  digest: string | null;
  /** The tags moved to this revision in the registry, and how each move was guarded. */
  tags: Array<{ tag: string; guard: TagGuard | "unchanged" }>;
  /** The S3 server stored a write whose If-None-Match failed: tag moves were only read-checked. */
  conditional_writes_ignored: boolean;
}

interface Planned {
  obj: StoredObject;
  source: Source;
  /** A revision file hashed while it uploads: its digest is remembered once it proves right. */
  remember?: { path: string; before: FileIdentity | undefined };
  /** Bytes we expect to send, for the progress bar: allocated blocks for sparse files. */
  estimate: number;
}

async function localChecksums(store: TemplateStore, template: string, rev: string, dir: string) {
  try {
    return await readChecksums(dir);
  } catch (e) {
    if (!(e instanceof MvmError && e.kind === "not_found")) throw e;
    // Revisions built before checksums.json existed (or by the original): record them now.
    return store.withLock(template, () => writeChecksums(dir, template, rev, DigestCache.of(store.paths)));
  }
}

async function plan(
  store: TemplateStore,
  opts: PushOptions,
): Promise<{ rev: string; planned: Planned[]; snapshot: boolean }> {
  const { template } = opts;
  const spec = await store.loadSpec(template);
  const rev = opts.revision ?? (await store.currentRevisionId(template));
  if (!rev)
    throw new MvmError("not_found", `template ${template} has no built revision to push`, {
      hint: `Build it first: mvmctl template build ${template}`,
    });
  const dir = await store.revisionDir(template, rev);
  if (!dir) throw new MvmError("not_found", `template ${template} has no revision ${rev}`);
  const revFile = join(dir, REVISION_FILE);
  const revText = await fs.readFile(revFile, "utf8").catch(() => {
    throw new MvmError("corrupt", `${revFile} is missing: revision ${rev} cannot be pushed`);
  });
  const revision = parseJsonFile(revFile, revText, parseRevision);
  if (revision.revision_hash !== rev)
    throw new MvmError("corrupt", `${revFile} names revision ${revision.revision_hash}, not ${rev}`);
  const sums: Checksums = await localChecksums(store, template, rev, dir);
  if (sums.revision_hash !== rev || sums.template_id !== template)
    throw new MvmError(
      "corrupt",
      `${join(dir, "checksums.json")} belongs to ${sums.template_id}/${sums.revision_hash}`,
    );

  const original = opts.layout === "original";
  const withSnapshot = opts.snapshot && !original && revision.snapshot !== null;
  const kernel = revision.artifact_paths.vmlinux;
  const planned: Planned[] = [];
  const digests = DigestCache.of(store.paths);
  for (const [local, sha256] of Object.entries(sums.files)) {
    if (local === SPEC_FILE || local === REVISION_FILE) continue; // generated below
    if (local.startsWith("snapshot/") && !withSnapshot) continue;
    const isKernel = (KERNEL_NAMES as readonly string[]).includes(local);
    if (original && isKernel && local !== kernel) continue; // only the kernel revision.json names
    const name = original && isKernel ? ORIGINAL_KERNEL : local;
    const path = join(dir, local);
    const st = await fs.stat(path).catch(() => undefined);
    if (!st?.isFile())
      throw new MvmError("corrupt", `${path} is missing`, {
        hint: `Check the revision with 'mvmctl template verify ${template} --revision ${rev}'.`,
      });
    const encoding = encodingFor(name, opts.layout);
    // An unchanged file whose digest was remembered when it was last hashed is not hashed again.
    const known = (await digests.lookup(path)) === sha256;
    planned.push({
      obj: { name, sha256, size: st.size, encoding },
      source: { kind: "file", path, ...(known ? { knownSha256: sha256 } : {}) },
      ...(known ? {} : { remember: { path, before: await fileIdentity(path) } }),
      estimate: encoding === "identity" ? st.size : Math.min(st.size, st.blocks * 512),
    });
  }
  if (original && !planned.some((p) => p.obj.name === ORIGINAL_KERNEL))
    throw new MvmError(
      "corrupt",
      `revision ${rev} has no kernel (${kernel}) in checksums.json: the original mvm could not run it`,
    );
  if (withSnapshot && !planned.some((p) => p.obj.name.startsWith("snapshot/")))
    throw new MvmError(
      "corrupt",
      `revision ${rev} records a snapshot but checksums.json lists no snapshot files`,
    );

  // revision.json as pushed: unchanged, or without its snapshot when the snapshot stays home.
  let revBytes = Buffer.from(revText);
  if (original && (revision.snapshot !== null || kernel !== ORIGINAL_KERNEL))
    revBytes = Buffer.from(originalRevisionJson(revision));
  else if (revision.snapshot !== null && !withSnapshot)
    revBytes = Buffer.from(toJson({ ...revision, snapshot: null }));
  else if (
    sums.files[REVISION_FILE] !== undefined &&
    (await sha256File(revFile)) !== sums.files[REVISION_FILE]
  )
    throw new MvmError("integrity", `${revFile} does not match its checksums.json`);
  // template.json as pushed: the spec the revision was built from (the original pushed the current,
  // possibly edited, spec; we fall back to it for revisions that do not record theirs).
  const specBytes = pushedSpec(revision, spec);
  for (const [name, data] of [
    [REVISION_FILE, revBytes],
    [SPEC_FILE, specBytes],
  ] as const) {
    const sha256 = createHash("sha256").update(data).digest("hex");
    planned.push({
      obj: {
        name,
        sha256,
        size: data.length,
        encoding: "identity",
        stored_sha256: sha256,
        stored_size: data.length,
      },
      source: { kind: "bytes", data },
      estimate: data.length,
    });
  }
  for (const p of planned)
    if (p.obj.encoding === "identity") {
      p.obj.stored_sha256 = p.obj.sha256;
      p.obj.stored_size = p.obj.size;
    }
  planned.sort((a, b) => b.obj.size - a.obj.size || a.obj.name.localeCompare(b.obj.name));
  return { rev, planned, snapshot: withSnapshot };
}

/**
 * template.json as pushed: the spec the revision was built from (the original pushed the current,
 * possibly edited, spec; we fall back to it for revisions that do not record theirs).
 */
export function pushedSpec(revision: TemplateRevision, current: TemplateSpec): Buffer {
  const built = revision.spec?.template_id === current.template_id ? revision.spec : undefined;
  return Buffer.from(toJson(built ?? current, false));
}

/** Indexes that may describe stored copies of our files: this revision's, and the current one's. */
async function knownForms(
  transport: RegistryTransport,
  template: string,
  rev: string,
): Promise<{ rev: string; index: RemoteIndex }[]> {
  const out: { rev: string; index: RemoteIndex }[] = [];
  const same = await transport.getIndex(template, rev).catch(() => undefined);
  if (same) out.push({ rev, index: same });
  const cur = await transport.getCurrent(template).catch(() => undefined);
  if (cur && cur !== rev) {
    const idx = await transport.getIndex(template, cur).catch(() => undefined);
    if (idx) out.push({ rev: cur, index: idx });
  }
  return out;
}

function reusable(
  obj: StoredObject,
  known: { rev: string; index: RemoteIndex }[],
): { rev: string; form: StoredForm } | undefined {
  for (const { rev, index } of known) {
    const form = index.transfer[obj.name];
    if (index.files[obj.name] === obj.sha256 && form?.encoding === obj.encoding && form.size === obj.size)
      return { rev, form };
  }
  return undefined;
}

/** The URL schemes of the registry kinds the original mvm reads, for messages: "file:// or s3://". */
function originalSchemes(): string {
  const schemes = TRANSPORT_KINDS.filter((k) => k.layouts.includes("original")).map((k) => `${k.scheme}://`);
  return `${schemes.slice(0, -1).join(", ")} or ${schemes.at(-1)}`;
}

export async function pushRevision(
  store: TemplateStore,
  transport: RegistryTransport,
  opts: PushOptions,
): Promise<PushResult> {
  const { template } = opts;
  if (!kindFor(transport.kind)!.layouts.includes(opts.layout))
    throw new MvmError(
      "usage",
      `the original mvm has no ${transport.kind.toUpperCase()} registry: --layout ${opts.layout} needs a ${originalSchemes()} registry`,
    );
  if (transport.pinned !== undefined)
    throw new MvmError(
      "usage",
      `${transport.display} pins a manifest (${transport.pinned}); push to the repository without it`,
    );
  const { rev, planned, snapshot } = await plan(store, opts);
  // Tags are read now and moved only if nobody moved them while this push ran (after the commit, so a
  // tag never names a revision the registry does not fully hold).
  const local = await loadRefs(store, template);
  const tagNames = [
    ...new Set([
      ...(opts.tags ?? []),
      ...Object.entries(local.tags)
        .filter(([, r]) => r === rev)
        .map(([t]) => t),
    ]),
  ].sort();
  const expectedTags = new Map<string, RemoteTag | undefined>();
  for (const t of tagNames) expectedTags.set(t, await transport.getTag(template, t));
  const known = await knownForms(transport, template, rev);
  const transfer: Record<string, StoredForm> = {};
  const files: PushedFile[] = [];
  let uploadedBytes = 0;
  let skippedBytes = 0;

  const toUpload: Planned[] = [];
  for (const p of planned) {
    // A stored copy is recognised by an earlier index, or, for files stored as they are, by their own
    // digest: that also skips what an interrupted push already sent, and (OCI) blobs of other revisions.
    const found = reusable(p.obj, known);
    let form = found?.form;
    if (!form && p.obj.stored_sha256 !== undefined && p.obj.stored_size !== undefined)
      form = {
        encoding: p.obj.encoding,
        size: p.obj.size,
        stored_sha256: p.obj.stored_sha256,
        stored_size: p.obj.stored_size,
      };
    const stored = form && { ...p.obj, stored_sha256: form.stored_sha256, stored_size: form.stored_size };
    const held =
      form &&
      stored &&
      ((await transport.hasObject(template, rev, stored)) ||
        // Unchanged since the current revision: copied inside the registry, not sent again.
        (found !== undefined &&
          found.rev !== rev &&
          isCopier(transport) &&
          (await withRetry(`copying ${p.obj.name} inside ${transport.display}`, () =>
            transport.copyObject(template, found.rev, rev, stored),
          ))));
    if (form && held) {
      transfer[p.obj.name] = form;
      files.push({
        name: p.obj.name,
        size: p.obj.size,
        encoding: p.obj.encoding,
        stored_size: form.stored_size,
        stored_sha256: form.stored_sha256,
        uploaded: false,
      });
      skippedBytes += p.obj.size;
    } else toUpload.push(p);
  }
  opts.progress.start(toUpload.reduce((n, p) => n + p.estimate, 0));
  try {
    await mapLimit(toUpload, 2, async (p) => {
      const up = await withRetry(`uploading ${p.obj.name} to ${transport.display}`, async () => {
        const body = await openBody(p.source, p.obj.encoding);
        let sent = 0;
        try {
          const res = await transport.putObject(template, rev, p.obj, body, (n) => {
            sent += n;
            opts.progress.add(n);
          });
          const raw = body.raw();
          if (raw.sha256 !== p.obj.sha256 || raw.size !== p.obj.size)
            throw new MvmError(
              "integrity",
              `${p.obj.name} of ${template}/${rev} changed since its checksum was recorded (expected ${p.obj.sha256}, read ${raw.sha256})`,
              { hint: `Check it with 'mvmctl template verify ${template} --revision ${rev}'.` },
            );
          if (p.remember)
            await DigestCache.of(store.paths).remember({
              [p.remember.path]: { sha256: raw.sha256, before: p.remember.before },
            });
          return res;
        } catch (e) {
          opts.progress.add(-sent);
          throw e;
        } finally {
          await body.close();
        }
      });
      transfer[p.obj.name] = { encoding: p.obj.encoding, size: p.obj.size, ...up };
      uploadedBytes += up.stored_size;
      files.push({
        name: p.obj.name,
        size: p.obj.size,
        encoding: p.obj.encoding,
        stored_size: up.stored_size,
        stored_sha256: up.stored_sha256,
        uploaded: true,
      });
      opts.progress.fileDone(
        `${p.obj.name}: ${formatBytes(p.obj.size)}${up.stored_size !== p.obj.size ? ` (${formatBytes(up.stored_size)} sent)` : ""}`,
      );
    });
  } finally {
    opts.progress.finish();
  }

  const filesSums: Record<string, string> = {};
  for (const p of planned) filesSums[p.obj.name] = p.obj.sha256;
  const index: RemoteIndex = {
    schema_version: CHECKSUMS_SCHEMA,
    template_id: template,
    revision_hash: rev,
    files: Object.fromEntries(Object.entries(filesSums).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    transfer,
    layout: opts.layout,
  };
  const digest = await withRetry(`writing the index of ${template}/${rev}`, () =>
    transport.commit(template, rev, index),
  );
  await withRetry(`moving current of ${template}`, () => transport.setCurrent(template, rev));
  // Remembered here, so `up NAME@<digest>` names this revision without asking the registry.
  if (digest) await recordDigest(store, template, digest, rev);
  const tags: PushResult["tags"] = [];
  for (const t of tagNames) {
    const expected = expectedTags.get(t);
    if (expected?.rev === rev) {
      tags.push({ tag: t, guard: "unchanged" });
      continue;
    }
    tags.push({ tag: t, guard: await transport.putTag(template, t, rev, expected) });
  }
  if (opts.tags?.length)
    await updateRefs(store, template, (refs) => {
      for (const t of opts.tags ?? []) refs.tags[t] = rev;
    });
  files.sort((a, b) => a.name.localeCompare(b.name));
  return {
    template,
    revision: rev,
    registry: transport.display,
    files,
    uploaded_bytes: uploadedBytes,
    skipped_bytes: skippedBytes,
    snapshot,
    layout: opts.layout,
    digest: digest ?? null,
    tags,
    conditional_writes_ignored: transport.conditionalWritesIgnored === true,
  };
}
