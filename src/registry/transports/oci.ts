import { createHash } from "node:crypto";
import { canonicalJson } from "../../core/canonical-json.js";
import { MAX_METADATA_BYTES } from "../../core/artifact-limits.js";
import { MvmError, usageError } from "../../core/errors.js";
import { revisionProblem, templateNameProblem } from "../../core/names.js";
import { readLimited } from "../idle.js";
import { parseRemoteIndex, type RemoteIndex, renderRemoteIndex } from "../index.js";
import { cleanPrefix, insecureAllowed } from "./location-rules.js";
import { SNAPSHOT_DISKS } from "../../core/snapshot.js";
import { basicHeader, fetchToken, type OciCredentials, ociCredentials, parseChallenge } from "./oci-auth.js";
import { TransientError } from "../retry.js";
import { sameTag, tagConflict } from "./tags.js";
import type {
  DigestAddressed,
  RegistryTransport,
  RemoteTag,
  TagGuard,
  RemoteTemplate,
  StoredObject,
  UploadBody,
  Uploaded,
  TransportKind,
} from "./transport.js";

/** How long a moved OCI tag must stay put before the push that moved it counts as the winner. */
const OCI_TAG_SETTLE_MS = 1000;

// oci:// registry over the OCI distribution API. Each template is a repository <repository>/<name>;
// each revision is one artifact manifest (artifactType application/vnd.mvm.template.v1) whose config
// blob is the revision's index (checksums.json with the transfer map) and whose layers are the files,
// one per file with its own media type, tagged with the revision id and `current`. Blobs are
// content-addressed, so a file unchanged between revisions is stored and sent once.

export const ARTIFACT_TYPE = "application/vnd.mvm.template.v1";
const CONFIG_TYPE = "application/vnd.mvm.template.config.v1+json";
const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
const CHUNK = 8 << 20;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

const KIND_OF_FILE: Record<string, string> = {
  vmlinux: "kernel",
  kernel: "kernel",
  initrd: "initrd",
  "rootfs.ext4": "rootfs",
  "fc-base.json": "fc-base",
  "revision.json": "revision",
  "template.json": "spec",
  "snapshot/vmstate.bin": "snapshot.vmstate",
  "snapshot/mem.bin": "snapshot.memory",
  // one kind per disk format of a backend's snapshot layout: snapshot.disk-qcow2, snapshot.disk-ext4
  ...Object.fromEntries(SNAPSHOT_DISKS.map((d) => [`snapshot/${d}`, `snapshot.${d.replace(".", "-")}`])),
};

export function layerMediaType(name: string, encoding: string): string {
  const kind = KIND_OF_FILE[name] ?? "file";
  const json = name.endsWith(".json");
  return `application/vnd.mvm.template.${kind}.v1${json ? "+json" : encoding === "identity" ? "" : `+${encoding}`}`;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** A TLS failure against an https registry often means it speaks plain http: say how to allow that. */
function tlsHint(e: unknown, scheme: string): unknown {
  const code = (e as { cause?: { code?: unknown } }).cause?.code;
  if (scheme !== "https" || typeof code !== "string" || !/SSL|CERT|TLS/.test(code)) return e;
  return new MvmError("network", `TLS connection to the registry failed (${code})`, {
    hint: "If this registry speaks plain http, set MVM_TEMPLATE_REGISTRY_INSECURE=1 (only on a network you trust).",
  });
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface OciLocation {
  kind: "oci";
  /** host[:port] */
  host: string;
  /** Repository path under which each template is one repository: <repository>/<template>. */
  repository: string;
  scheme: "https" | "http";
  /**
   * A manifest digest (`@sha256:…`) or tag (`:tag`) given after the repository: pull and verify read
   * that manifest instead of the `current` tag, and nothing can be pushed to such a location.
   */
  reference?: string;
}

function parseOciUrl(url: string, rest: string, env: NodeJS.ProcessEnv): OciLocation {
  const slash = rest.indexOf("/");
  const host = slash < 0 ? rest : rest.slice(0, slash);
  let repository = slash < 0 ? "" : cleanPrefix(rest.slice(slash + 1));
  let reference: string | undefined;
  const at = repository.indexOf("@");
  const lastSegment = repository.slice(repository.lastIndexOf("/") + 1);
  if (at >= 0) {
    reference = repository.slice(at + 1);
    repository = repository.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(reference))
      throw usageError(
        `invalid OCI digest ${JSON.stringify(reference.slice(0, 80))} in ${JSON.stringify(url)}: expected sha256:<64 hex digits>`,
      );
  } else if (lastSegment.includes(":")) {
    const colon = repository.lastIndexOf(":");
    reference = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(reference))
      throw usageError(`invalid OCI tag ${JSON.stringify(reference.slice(0, 80))} in ${JSON.stringify(url)}`);
  }
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host))
    throw usageError(`invalid OCI registry host ${JSON.stringify(host)} in ${JSON.stringify(url)}`);
  if (
    repository === "" ||
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)
  )
    throw usageError(
      `invalid OCI repository ${JSON.stringify(repository)} in ${JSON.stringify(url)}`,
      "Use oci://host[:port]/repository (lowercase path); each template becomes <repository>/<name>.",
    );
  const http = insecureAllowed(env) || /^(1|true|yes)$/i.test(env.MVM_OCI_INSECURE?.trim() ?? "");
  return {
    kind: "oci",
    host,
    repository,
    scheme: http ? "http" : "https",
    ...(reference !== undefined ? { reference } : {}),
  };
}

export const ociKind: TransportKind<OciLocation> = {
  scheme: "oci",
  layouts: ["mvm"],
  credentialHint: "Give OCI credentials with MVM_OCI_USERNAME and MVM_OCI_PASSWORD, or 'docker login'.",
  parse: parseOciUrl,
  describe: (loc) =>
    `oci://${loc.host}/${loc.repository}${loc.reference ? `${loc.reference.startsWith("sha256:") ? "@" : ":"}${loc.reference}` : ""}${loc.scheme === "http" ? " (insecure http)" : ""}`,
  open: (loc) => OciTransport.open(loc),
};

export class OciTransport implements RegistryTransport, DigestAddressed {
  readonly kind = "oci" as const;
  readonly display: string;
  private readonly base: string;
  readonly pinned?: string;
  /** Authorization header per scope key (repository or catalog), learned from 401 challenges. */
  private readonly auth = new Map<string, string>();

  private constructor(
    private readonly loc: OciLocation,
    private readonly creds: OciCredentials | undefined,
  ) {
    this.display = ociKind.describe(loc);
    this.base = `${loc.scheme}://${loc.host}`;
    if (loc.reference !== undefined) this.pinned = loc.reference;
  }

  static async open(loc: OciLocation): Promise<OciTransport> {
    return new OciTransport(loc, await ociCredentials(loc.host));
  }

  private repo(template: string): string {
    return `${this.loc.repository}/${template}`;
  }

  /** One HTTP request with authentication: retried once after answering a 401 challenge. */
  private async request(
    scopeKey: string,
    method: string,
    pathOrUrl: string,
    init: { headers?: Record<string, string>; body?: Buffer | string } = {},
  ): Promise<Response> {
    const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${this.base}${pathOrUrl}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const auth = this.auth.get(scopeKey);
      // Credentials go only to the registry itself, never to another host a Location header names.
      if (auth && new URL(url).origin === new URL(this.base).origin) headers.authorization = auth;
      const res = await fetch(url, {
        method,
        headers,
        ...(init.body !== undefined
          ? { body: init.body as unknown as NonNullable<RequestInit["body"]> }
          : {}),
        redirect: "follow",
      }).catch((e: unknown) => {
        throw tlsHint(e, this.loc.scheme);
      });
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel();
        await this.authenticate(scopeKey, res.headers.get("www-authenticate"));
        continue;
      }
      if (res.status >= 500 || res.status === 429) {
        await res.body?.cancel();
        throw new TransientError(`${method} ${new URL(url).pathname}: registry answered HTTP ${res.status}`);
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new MvmError(
          "network",
          `${this.display} refused ${method} ${new URL(url).pathname} (HTTP ${res.status})`,
          {
            hint: "Set MVM_OCI_USERNAME and MVM_OCI_PASSWORD, or log in with 'docker login'.",
          },
        );
      }
      return res;
    }
  }

  private async authenticate(scopeKey: string, header: string | null): Promise<void> {
    const ch = header ? parseChallenge(header) : undefined;
    if (ch?.scheme === "basic" || (!ch && this.creds)) {
      if (!this.creds)
        throw new MvmError("network", `${this.display} requires authentication`, {
          hint: "Set MVM_OCI_USERNAME and MVM_OCI_PASSWORD, or log in with 'docker login'.",
        });
      this.auth.set(scopeKey, basicHeader(this.creds));
      return;
    }
    if (ch?.scheme === "bearer") {
      const token = await fetchToken(ch, this.creds, this.loc.scheme === "http");
      this.auth.set(scopeKey, `Bearer ${token}`);
      return;
    }
    throw new MvmError("network", `${this.display} requires authentication it did not describe`);
  }

  private async fail(res: Response, what: string): Promise<never> {
    const body = await readLimited(res, 64 * 1024, what).catch(() => Buffer.alloc(0));
    const text = body.toString("utf8").slice(0, 300).replace(/\s+/g, " ");
    throw new MvmError("network", `${what}: registry answered HTTP ${res.status}${text ? `: ${text}` : ""}`);
  }

  /** A manifest's exact bytes (capped like every registry document); undefined when there is none. */
  private async manifestBytes(template: string, ref: string): Promise<Buffer | undefined> {
    const res = await this.request(
      this.repo(template),
      "GET",
      `/v2/${this.repo(template)}/manifests/${ref}`,
      {
        headers: { accept: MANIFEST_TYPE },
      },
    );
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const what = `reading manifest ${this.repo(template)}:${ref}`;
    if (!res.ok) return this.fail(res, what);
    return readLimited(res, MAX_METADATA_BYTES, what);
  }

  private async getManifest(template: string, ref: string): Promise<Manifest | undefined> {
    const what = `reading manifest ${this.repo(template)}:${ref}`;
    const body = await this.manifestBytes(template, ref);
    if (!body) return undefined;
    let m: Manifest;
    // A manifest asked for by digest must be exactly the bytes that digest names.
    if (ref.startsWith("sha256:") && `sha256:${sha256(body)}` !== ref)
      throw new MvmError("integrity", `${what}: the registry sent a manifest that does not match ${ref}`);
    try {
      m = JSON.parse(body.toString("utf8")) as Manifest;
    } catch (e) {
      if (e instanceof MvmError) throw e;
      throw new MvmError("corrupt", `${what}: not JSON (${(e as Error).message})`);
    }
    if (m?.artifactType !== ARTIFACT_TYPE && m?.config?.mediaType !== CONFIG_TYPE)
      throw new MvmError("corrupt", `${this.repo(template)}:${ref} is not an mvm template artifact`);
    if (!DIGEST.test(m.config.digest))
      throw new MvmError("corrupt", `${this.repo(template)}:${ref} has a bad config digest`);
    return m;
  }

  private async getBlobText(template: string, digest: string, limit: number): Promise<string> {
    const res = await this.request(this.repo(template), "GET", `/v2/${this.repo(template)}/blobs/${digest}`);
    if (!res.ok) return this.fail(res, `reading blob ${digest}`);
    const buf = await readLimited(res, limit, `reading blob ${digest}`);
    if (buf.length > limit) throw new MvmError("corrupt", `blob ${digest} is larger than ${limit} bytes`);
    if (`sha256:${sha256(buf)}` !== digest)
      throw new MvmError("integrity", `blob ${digest} does not match its digest`);
    return buf.toString("utf8");
  }

  /** The revision a manifest describes. */
  private revisionOf(template: string, ref: string, m: Manifest): string {
    const rev = m.annotations?.["vnd.mvm.revision"];
    if (!rev || revisionProblem(rev))
      throw new MvmError("corrupt", `${this.repo(template)}:${ref} names no valid revision`);
    return rev;
  }

  /** The pinned manifest (digest or tag in the location), which stands in for `current`. */
  private async pinnedManifest(template: string, ref: string): Promise<Manifest> {
    const m = await this.getManifest(template, ref);
    if (!m)
      throw new MvmError("not_found", `${this.repo(template)} has no manifest ${ref}`, {
        hint: "List what the registry holds with 'mvmctl template list --remote'.",
      });
    return m;
  }

  async getCurrent(template: string): Promise<string | undefined> {
    if (this.pinned !== undefined)
      return this.revisionOf(template, this.pinned, await this.pinnedManifest(template, this.pinned));
    const m = await this.getManifest(template, "current");
    if (!m) return undefined;
    return this.revisionOf(template, "current", m);
  }

  async getIndex(template: string, rev: string): Promise<RemoteIndex | undefined> {
    let m: Manifest | undefined;
    if (this.pinned !== undefined) {
      m = await this.pinnedManifest(template, this.pinned);
      const pinnedRev = this.revisionOf(template, this.pinned, m);
      if (pinnedRev !== rev)
        throw new MvmError(
          "usage",
          `${this.repo(template)}@${this.pinned} is revision ${pinnedRev}, not ${rev}`,
        );
    } else m = await this.getManifest(template, rev);
    if (!m) return undefined;
    const text = await this.getBlobText(template, m.config.digest, MAX_METADATA_BYTES);
    const where = `${this.display} ${this.repo(template)}:${rev}`;
    return parseRemoteIndex(where, text, async () => {
      throw new MvmError("corrupt", `${where}: the index has no transfer map (not written by mvmctl)`);
    });
  }

  private async blobExists(template: string, digest: string, size: number): Promise<boolean> {
    const res = await this.request(this.repo(template), "HEAD", `/v2/${this.repo(template)}/blobs/${digest}`);
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (!res.ok) return this.fail(res, `checking blob ${digest}`);
    const len = res.headers.get("content-length");
    return len === null || Number(len) === size;
  }

  async hasObject(template: string, _rev: string, obj: Required<StoredObject>): Promise<boolean> {
    return this.blobExists(template, `sha256:${obj.stored_sha256}`, obj.stored_size);
  }

  private nextLocation(res: Response, what: string): string {
    const loc = res.headers.get("location");
    if (!loc) throw new MvmError("network", `${what}: registry sent no upload location`);
    return new URL(loc, this.base).toString();
  }

  /** Chunked blob upload: POST a session, PATCH CHUNK-sized pieces in order, PUT with the digest. */
  private async uploadBlob(
    template: string,
    chunks: AsyncIterable<Buffer>,
    onBytes: (n: number) => void,
  ): Promise<{ digest: string; size: number }> {
    const repo = this.repo(template);
    const what = `uploading to ${repo}`;
    const start = await this.request(repo, "POST", `/v2/${repo}/blobs/uploads/`, {
      headers: { "content-length": "0" },
    });
    await start.body?.cancel();
    if (start.status !== 202) return this.fail(start, what);
    let location = this.nextLocation(start, what);
    const hash = createHash("sha256");
    let offset = 0;
    // One CHUNK-sized buffer, reused: body chunks are copied in (they are only valid until the next).
    const pending = Buffer.allocUnsafe(CHUNK);
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const body = pending.subarray(0, pendingBytes);
      const res = await this.request(repo, "PATCH", location, {
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + body.length - 1}`,
          "content-length": String(body.length),
        },
        body,
      });
      await res.body?.cancel();
      if (res.status !== 202) return this.fail(res, what);
      location = this.nextLocation(res, what);
      offset += body.length;
      onBytes(body.length);
      pendingBytes = 0;
    };
    for await (const c of chunks) {
      hash.update(c);
      let used = 0;
      while (used < c.length) {
        const n = c.copy(pending, pendingBytes, used);
        pendingBytes += n;
        used += n;
        if (pendingBytes === CHUNK) await flush();
      }
    }
    await flush();
    const digest = `sha256:${hash.digest("hex")}`;
    const done = new URL(location);
    done.searchParams.set("digest", digest);
    const res = await this.request(repo, "PUT", done.toString(), { headers: { "content-length": "0" } });
    await res.body?.cancel();
    if (res.status !== 201) return this.fail(res, what);
    return { digest, size: offset };
  }

  async putObject(
    template: string,
    _rev: string,
    _obj: StoredObject,
    body: UploadBody,
    onBytes: (n: number) => void,
  ): Promise<Uploaded> {
    const { digest, size } = await this.uploadBlob(template, body.chunks, onBytes);
    const res = body.result();
    if (`sha256:${res.stored_sha256}` !== digest || res.stored_size !== size)
      throw new MvmError("internal", "upload digest disagrees with the body's digest");
    return res;
  }

  async *getObject(template: string, _rev: string, obj: Required<StoredObject>): AsyncIterable<Uint8Array> {
    const digest = `sha256:${obj.stored_sha256}`;
    const res = await this.request(this.repo(template), "GET", `/v2/${this.repo(template)}/blobs/${digest}`);
    if (res.status === 404) {
      await res.body?.cancel();
      throw new MvmError(
        "not_found",
        `registry blob ${digest} (${obj.name}) is missing from ${this.repo(template)}`,
      );
    }
    if (!res.ok || !res.body) await this.fail(res, `downloading ${obj.name}`);
    yield* res.body as unknown as AsyncIterable<Uint8Array>;
  }

  private async putManifest(template: string, tag: string, payload: string): Promise<void> {
    const res = await this.request(
      this.repo(template),
      "PUT",
      `/v2/${this.repo(template)}/manifests/${tag}`,
      {
        headers: { "content-type": MANIFEST_TYPE },
        body: payload,
      },
    );
    await res.body?.cancel();
    if (res.status !== 201) return this.fail(res, `tagging ${this.repo(template)}:${tag}`);
  }

  private manifestFor(
    template: string,
    rev: string,
    index: RemoteIndex,
    configDigest: string,
    configSize: number,
  ): string {
    const layers: Descriptor[] = Object.keys(index.files)
      .sort()
      .map((name) => {
        const t = index.transfer[name]!;
        return {
          mediaType: layerMediaType(name, t.encoding),
          digest: `sha256:${t.stored_sha256}`,
          size: t.stored_size,
          annotations: {
            "org.opencontainers.image.title": name,
            "vnd.mvm.file.sha256": index.files[name]!,
            "vnd.mvm.file.size": String(t.size),
            "vnd.mvm.file.encoding": t.encoding,
          },
        };
      });
    const total = Object.values(index.transfer).reduce((n, t) => n + t.size, 0);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      artifactType: ARTIFACT_TYPE,
      config: { mediaType: CONFIG_TYPE, digest: configDigest, size: configSize },
      layers,
      annotations: {
        "vnd.mvm.template": template,
        "vnd.mvm.revision": rev,
        "vnd.mvm.total-size": String(total),
        "vnd.mvm.stored-size": String(layers.reduce((n, l) => n + l.size, 0)),
      },
    };
    return canonicalJson(manifest, false);
  }

  async commit(template: string, rev: string, index: RemoteIndex): Promise<string> {
    const config = Buffer.from(renderRemoteIndex(index));
    const configDigest = `sha256:${sha256(config)}`;
    if (!(await this.blobExists(template, configDigest, config.length)))
      await this.uploadBlob(
        template,
        (async function* () {
          yield config;
        })(),
        () => {},
      );
    const manifest = this.manifestFor(template, rev, index, configDigest, config.length);
    await this.putManifest(template, rev, manifest);
    return `sha256:${sha256(manifest)}`;
  }

  async getTag(template: string, tag: string): Promise<RemoteTag | undefined> {
    const body = await this.manifestBytes(template, tag);
    if (!body) return undefined;
    let m: Manifest;
    try {
      m = JSON.parse(body.toString("utf8")) as Manifest;
    } catch {
      throw new MvmError("corrupt", `${this.repo(template)}:${tag} is not JSON`);
    }
    return { rev: this.revisionOf(template, tag, m), version: `sha256:${sha256(body)}` };
  }

  /**
   * The distribution API has no conditional manifest write, so the tag is read right before the
   * write and again after it: a push that finds the tag moved, or overwritten by another, loses.
   */
  async putTag(
    template: string,
    tag: string,
    rev: string,
    expected: RemoteTag | undefined,
  ): Promise<TagGuard> {
    const before = await this.getTag(template, tag);
    if (!sameTag(before, expected)) throw tagConflict(template, tag, before);
    const manifest = await this.manifestBytes(template, rev);
    if (!manifest) throw new MvmError("not_found", `${this.repo(template)}:${rev} is not in the registry`);
    await this.putManifest(template, tag, manifest.toString("utf8"));
    const mine = `sha256:${sha256(manifest)}`;
    const after = await this.getTag(template, tag);
    if (after?.version !== mine) throw tagConflict(template, tag, after);
    // A racing push that passed its own check before this write lands its write within moments:
    // look again after a pause, so that of two racing pushes only the one whose write stayed wins.
    await new Promise((res) => setTimeout(res, OCI_TAG_SETTLE_MS));
    const settled = await this.getTag(template, tag);
    if (settled?.version !== mine) throw tagConflict(template, tag, settled);
    return "checked";
  }

  async digestOf(template: string, rev: string): Promise<string | undefined> {
    if (this.pinned?.startsWith("sha256:")) return this.pinned;
    const ref = this.pinned ?? rev;
    const body = await this.manifestBytes(template, ref);
    if (!body) return undefined;
    // A tag may have moved since the revision was read: only a manifest of this revision counts.
    let named: unknown;
    try {
      named = (JSON.parse(body.toString("utf8")) as Manifest).annotations?.["vnd.mvm.revision"];
    } catch {
      return undefined;
    }
    return named === rev ? `sha256:${sha256(body)}` : undefined;
  }

  async setCurrent(template: string, rev: string): Promise<void> {
    // Re-tag the revision's exact manifest bytes, so both tags resolve to one digest.
    const manifest = await this.manifestBytes(template, rev);
    if (!manifest) throw new MvmError("not_found", `${this.repo(template)}:${rev} is not in the registry`);
    await this.putManifest(template, "current", manifest.toString("utf8"));
  }

  async list(): Promise<RemoteTemplate[]> {
    const repos: string[] = [];
    let next: string | undefined = "/v2/_catalog?n=1000";
    while (next) {
      const res = await this.request("catalog", "GET", next);
      if (!res.ok) return this.fail(res, "listing repositories");
      const body = (await res.json()) as { repositories?: unknown };
      if (Array.isArray(body.repositories))
        for (const r of body.repositories) if (typeof r === "string") repos.push(r);
      const link = res.headers.get("link");
      const m = link ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
      next = m?.[1] ? new URL(m[1], this.base).pathname + new URL(m[1], this.base).search : undefined;
    }
    const prefix = `${this.loc.repository}/`;
    const out: RemoteTemplate[] = [];
    for (const repo of repos.sort()) {
      if (!repo.startsWith(prefix)) continue;
      const name = repo.slice(prefix.length);
      if (templateNameProblem(name)) continue;
      const res = await this.request(repo, "GET", `/v2/${repo}/tags/list`);
      if (res.status === 404) continue;
      if (!res.ok) return this.fail(res, `listing tags of ${repo}`);
      const tags = ((await res.json()) as { tags?: unknown }).tags;
      const revisions = Array.isArray(tags)
        ? tags
            .filter((t): t is string => typeof t === "string" && t !== "current" && !revisionProblem(t))
            .sort()
        : [];
      const current = (await this.getCurrent(name).catch(() => undefined)) ?? null;
      out.push({ name, current, revisions });
    }
    return out;
  }

  async close(): Promise<void> {}
}
