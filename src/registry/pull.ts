import { tagProblem } from "../core/refs.js";
import { recordDigest, updateRefs } from "../store/refs.js";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { isKnownArtifact, REVISION_FILE, SPEC_FILE } from "../core/artifacts.js";
import { newChecksums } from "../core/checksums.js";
import { MvmError } from "../core/errors.js";
import { revisionProblem } from "../core/names.js";
import { parseRevision, type TemplateRevision } from "../core/revision.js";
import { parseJsonFile, toJson } from "../core/schema.js";
import { formatBytes } from "../core/sizes.js";
import { parseSpec, type TemplateSpec } from "../core/spec.js";
import { fsyncDir, tempSibling } from "../host/files.js";
import { writeFileAtomic } from "../store/atomic.js";
import { sha256Files } from "../host/hash-pool.js";
import type { TemplateStore } from "../store/templates.js";
import { withIdleTimeout } from "./idle.js";
import { checkIndexIdentity, type RegistryLayout, type RemoteIndex } from "./index.js";
import { mapLimit } from "./limit.js";
import { fileMode } from "./modes.js";
import type { ProgressSink } from "./progress.js";
import { withRetry } from "./retry.js";
import { decodeIdentity, decodeSparse, SPARSE_ENCODING } from "./sparse.js";
import { checkClaimedSizes, checkRecordedSizes } from "./size-claims.js";
import { isDigestAddressed, type RegistryTransport } from "./transports/transport.js";

// pull: download into a hidden staging directory next to the revisions, checking every
// SHA-256 while the bytes stream in; then, holding the template lock, rename the revision into place,
// write the template's template.json and move `current` last. A failure or a SIGKILL at any point
// leaves the previous revision and `current` as they were (the staging dir is swept later).

export interface PullOptions {
  template: string;
  revision?: string;
  /** Pull the revision this registry tag names, and set the same tag here. */
  tag?: string;
  progress: ProgressSink;
}

export interface PullResult {
  template: string;
  revision: string;
  registry: string;
  path: string;
  files: { name: string; size: number; stored_size: number }[];
  downloaded_bytes: number;
  already_present: boolean;
  /** How the registry held the revision: "original" when written the original mvm's way. */
  layout: RegistryLayout;
  /** The local tag set to this revision (the tag pulled by), or null. */
  tag: string | null;
  /** The registry's digest for this revision where it has one (OCI), recorded for `up NAME@digest`. */
  digest: string | null;
}

/** Resolves the revision to fetch and its validated index. */
export async function remoteRevision(
  transport: RegistryTransport,
  template: string,
  revision: string | undefined,
): Promise<{ rev: string; index: RemoteIndex }> {
  let rev = revision;
  if (rev === undefined) {
    rev = await withRetry(`reading current of ${template}`, () => transport.getCurrent(template));
    if (rev === undefined)
      throw new MvmError("not_found", `registry ${transport.display} has no template ${template}`, {
        hint: "List what it holds with 'mvmctl template list --remote'.",
      });
    const problem = revisionProblem(rev);
    if (problem)
      throw new MvmError("corrupt", `registry current of ${template} is not a revision id: ${problem}`);
  }
  const r = rev;
  const index = await withRetry(`reading the index of ${template}/${r}`, () =>
    transport.getIndex(template, r),
  );
  if (!index)
    throw new MvmError(
      "not_found",
      `registry ${transport.display} has no revision ${r} of template ${template}`,
    );
  checkIndexIdentity(index, template, r, `${transport.display} ${template}/${r}/checksums.json`);
  for (const name of Object.keys(index.files))
    if (!isKnownArtifact(name))
      throw new MvmError("corrupt", `registry index names unexpected file ${JSON.stringify(name)}`);
  if (index.files[REVISION_FILE] === undefined)
    throw new MvmError("corrupt", `registry revision ${template}/${r} has no revision.json`);
  checkClaimedSizes(index, `registry revision ${template}/${r}`);
  return { rev: r, index };
}

async function download(
  transport: RegistryTransport,
  template: string,
  rev: string,
  index: RemoteIndex,
  name: string,
  staging: string,
  progress: ProgressSink,
  signal: AbortSignal,
): Promise<void> {
  const form = index.transfer[name]!;
  const expected = index.files[name]!;
  const path = join(staging, name);
  await fs.mkdir(dirname(path), { recursive: true });
  await withRetry(`downloading ${name} from ${transport.display}`, async () => {
    const fh = await fs.open(path, "w", fileMode(name));
    let received = 0;
    try {
      const counted = (async function* () {
        const chunks = transport.getObject(template, rev, {
          name,
          encoding: form.encoding,
          sha256: expected,
          size: form.size,
          stored_sha256: form.stored_sha256,
          stored_size: form.stored_size,
        });
        for await (const chunk of withIdleTimeout(chunks, `downloading ${name}`)) {
          received += chunk.length;
          if (received > form.stored_size)
            throw new MvmError(
              "integrity",
              `${name}: the registry sent more than the ${form.stored_size} bytes it stores`,
            );
          progress.add(chunk.length);
          yield chunk;
        }
      })();
      const got =
        form.encoding === SPARSE_ENCODING
          ? await decodeSparse(counted, fh, form.size, { signal })
          : await decodeIdentity(counted, fh);
      if (got.sha256 !== expected || got.size !== form.size)
        throw new MvmError(
          "integrity",
          `checksum mismatch for ${name} (expected ${expected}, got ${got.sha256}); nothing was installed`,
        );
      await fh.sync();
    } catch (e) {
      progress.add(-received);
      throw e;
    } finally {
      await fh.close();
    }
  });
}

function loadPulledSpec(
  template: string,
  staging: string,
  specText: string | undefined,
  revSpec: TemplateSpec | undefined,
): TemplateSpec {
  const spec =
    specText !== undefined ? parseJsonFile(join(staging, SPEC_FILE), specText, parseSpec) : revSpec;
  if (!spec)
    throw new MvmError(
      "corrupt",
      `registry revision of ${template} carries no template spec; it cannot be run after a pull`,
    );
  if (spec.template_id !== template)
    throw new MvmError(
      "corrupt",
      `pulled template.json is for ${JSON.stringify(spec.template_id)}, not ${template}`,
    );
  return spec;
}

/**
 * Reads and checks the revision.json of a pulled (or already present) revision: it must describe this
 * revision of this template, and record for each file the size the index gives it.
 */
async function loadPulledRevision(
  dir: string,
  template: string,
  rev: string,
  index: RemoteIndex,
  where: string,
): Promise<TemplateRevision> {
  const revFile = join(dir, REVISION_FILE);
  const revision = parseJsonFile(revFile, await fs.readFile(revFile, "utf8"), parseRevision);
  if (revision.revision_hash !== rev)
    throw new MvmError(
      "corrupt",
      `pulled revision.json names revision ${revision.revision_hash}, not ${rev}`,
    );
  if (revision.spec && revision.spec.template_id !== template)
    throw new MvmError(
      "corrupt",
      `pulled revision.json was built for template ${JSON.stringify(revision.spec.template_id)}, not ${template}; nothing was installed`,
    );
  checkRecordedSizes(index, revision, where);
  return revision;
}

/** Whether a local revision dir already holds exactly these files. */
async function alreadyPresent(dir: string | undefined, index: RemoteIndex): Promise<boolean> {
  if (!dir) return false;
  const files = Object.entries(index.files);
  for (const [name] of files) {
    const st = await fs.stat(join(dir, name)).catch(() => undefined);
    if (!st?.isFile() || st.size !== index.transfer[name]?.size) return false;
  }
  const digests = await sha256Files(files.map(([name]) => join(dir, name)));
  return files.every(([, sha], i) => digests[i] === sha);
}

export async function pullRevision(
  store: TemplateStore,
  transport: RegistryTransport,
  opts: PullOptions,
): Promise<PullResult> {
  const { template } = opts;
  let wanted = opts.revision;
  if (opts.tag !== undefined) {
    const tag = opts.tag;
    const found = await withRetry(`reading tag ${template}:${tag}`, () => transport.getTag(template, tag));
    if (!found)
      throw new MvmError("not_found", `registry ${transport.display} has no tag ${template}:${tag}`);
    if (wanted !== undefined && wanted !== found.rev)
      throw new MvmError("usage", `tag ${template}:${tag} names revision ${found.rev}, not ${wanted}`);
    wanted = found.rev;
  }
  // A location pinned by tag (oci://host/repo:TAG) names a tag too.
  const pinnedTag =
    transport.pinned !== undefined &&
    !transport.pinned.startsWith("sha256:") &&
    transport.pinned !== "current"
      ? transport.pinned
      : undefined;
  const localTag = opts.tag ?? (pinnedTag !== undefined && !tagProblem(pinnedTag) ? pinnedTag : undefined);
  const { rev, index } = await remoteRevision(transport, template, wanted);
  const names = Object.keys(index.files).sort(
    (a, b) => (index.transfer[b]?.stored_size ?? 0) - (index.transfer[a]?.stored_size ?? 0),
  );
  const target = store.paths.revision(template, rev);
  const files = names.map((name) => ({
    name,
    size: index.transfer[name]!.size,
    stored_size: index.transfer[name]!.stored_size,
  }));
  let digest: string | undefined;
  const result = (downloaded: number, present: boolean): PullResult => ({
    template,
    revision: rev,
    registry: transport.display,
    path: target,
    files,
    downloaded_bytes: downloaded,
    already_present: present,
    layout: index.layout,
    tag: localTag ?? null,
    digest: digest ?? null,
  });

  const where = `registry revision ${template}/${rev}`;
  await store.sweep(template);
  const existing = await store.revisionDir(template, rev);
  const present = existing === target && (await alreadyPresent(existing, index));

  let staging: string | undefined;
  let downloaded = 0;
  // Directories this pull creates are removed again if it fails: a failed first pull leaves nothing.
  const created: string[] = [];
  if (!present) {
    for (const d of [store.paths.template(template), store.paths.artifacts(template)])
      if (!(await fs.stat(d).catch(() => undefined))) created.push(d);
    if (!(await fs.stat(store.paths.revisions(template)).catch(() => undefined)))
      created.push(store.paths.revisions(template));
    await fs.mkdir(store.paths.revisions(template), { recursive: true });
    staging = tempSibling(target, "pull");
    await fs.mkdir(staging);
  }
  try {
    const dir = staging ?? target;
    if (staging) {
      const stagingDir = staging;
      // The first file that fails stops the others (a long run of zeros included) instead of letting
      // them finish for nothing.
      const stop = new AbortController();
      const fetchOne = async (name: string) => {
        try {
          await download(transport, template, rev, index, name, stagingDir, opts.progress, stop.signal);
        } catch (e) {
          stop.abort(new MvmError("network", `stopped because ${name} of this revision failed`));
          throw e;
        }
        downloaded += index.transfer[name]!.stored_size;
        const f = index.transfer[name]!;
        opts.progress.fileDone(
          `${name}: ${formatBytes(f.size)}${f.stored_size !== f.size ? ` (${formatBytes(f.stored_size)} received)` : ""}`,
        );
      };
      opts.progress.start(names.reduce((n, name) => n + index.transfer[name]!.stored_size, 0));
      try {
        // revision.json first: the sizes it records bound every other download.
        await fetchOne(REVISION_FILE);
        await loadPulledRevision(stagingDir, template, rev, index, where);
        await mapLimit(
          names.filter((n) => n !== REVISION_FILE),
          2,
          fetchOne,
        );
      } finally {
        opts.progress.finish();
      }
      // The local checksums.json lists exactly the files that arrived, so `verify` checks them all.
      await writeFileAtomic(
        join(stagingDir, "checksums.json"),
        toJson(newChecksums(template, rev, index.files)),
      );
    }
    const revision = await loadPulledRevision(dir, template, rev, index, where);
    if (revision.snapshot !== null && !names.some((n) => n.startsWith("snapshot/")))
      throw new MvmError(
        "corrupt",
        `pulled revision ${rev} records a snapshot but the registry holds no snapshot files`,
      );
    const specText = names.includes(SPEC_FILE) ? await fs.readFile(join(dir, SPEC_FILE), "utf8") : undefined;
    const spec = loadPulledSpec(template, dir, specText, revision.spec);

    await store.withLock(template, async () => {
      if (staging) {
        await fsyncDir(staging);
        const old = await fs.stat(target).then(
          () => tempSibling(target, "trash"),
          () => undefined,
        );
        // A damaged copy of the same revision is moved aside; `current` may name it only for this instant.
        if (old) await fs.rename(target, old);
        await fs.rename(staging, target);
        staging = undefined;
        await fsyncDir(dirname(target));
        if (old) await fs.rm(old, { recursive: true, force: true });
      }
      await store.writeSpec(spec);
      await store.setCurrent(template, rev);
    });
    created.length = 0;
    digest = isDigestAddressed(transport) ? await transport.digestOf(template, rev) : undefined;
    if (digest) await recordDigest(store, template, digest, rev);
    if (localTag !== undefined)
      await updateRefs(store, template, (refs) => {
        refs.tags[localTag] = rev;
      });
    return result(downloaded, present);
  } finally {
    if (staging) await fs.rm(staging, { recursive: true, force: true });
    // Innermost first; rmdir only removes what is still empty.
    for (const d of created.reverse()) await fs.rmdir(d).catch(() => {});
  }
}
