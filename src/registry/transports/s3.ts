import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { MAX_METADATA_BYTES } from "../../core/artifact-limits.js";
import { CHECKSUMS_FILE } from "../../core/artifacts.js";
import { MvmError, usageError } from "../../core/errors.js";
import { revisionProblem, templateNameProblem } from "../../core/names.js";
import { parseRemoteIndex, type RemoteIndex, renderRemoteIndex } from "../index.js";
import {
  checkKeyPath,
  cleanPrefix,
  envValue,
  refuseHttp,
  refuseUserinfo,
  templateKey,
} from "./location-rules.js";
import { retryAttempts } from "../retry.js";
import { sameTag, tagConflict } from "./tags.js";
import type {
  Copier,
  RegistryTransport,
  RemoteTag,
  RemoteTemplate,
  StoredObject,
  TagGuard,
  UploadBody,
  Uploaded,
  TransportKind,
} from "./transport.js";

// s3:// registry through the AWS SDK (the client real users point at AWS, MinIO, R2): the original's
// key layout <prefix>/templates/<id>/{current, revisions/<rev>/<file>}. Large objects go up as
// multipart uploads with a few parts in flight (constant memory: PART_SIZE × QUEUE). Each object
// carries the SHA-256 and encoding of the file it holds as metadata, so an unchanged file is not sent
// twice.

export interface S3Location {
  kind: "s3";
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  /** Static keys; when absent the AWS SDK's default chain (AWS_* variables, profiles) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle: boolean;
}

const S3_CREDENTIAL_HINT =
  "Give S3 keys with MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID and MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY (or the AWS_* variables).";

function s3Common(env: NodeJS.ProcessEnv): Omit<S3Location, "kind" | "bucket" | "prefix"> {
  const endpoint =
    envValue(env, "MVM_TEMPLATE_REGISTRY_ENDPOINT") ??
    envValue(env, "AWS_ENDPOINT_URL_S3") ??
    envValue(env, "AWS_ENDPOINT_URL");
  if (endpoint) {
    refuseUserinfo("S3 endpoint", endpoint, S3_CREDENTIAL_HINT);
    if (!/^https?:\/\/[^/\s]+/i.test(endpoint))
      throw usageError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: expected http(s)://host[:port]`);
    refuseHttp(endpoint, env);
  }
  const region =
    envValue(env, "MVM_TEMPLATE_REGISTRY_REGION") ??
    envValue(env, "AWS_REGION") ??
    envValue(env, "AWS_DEFAULT_REGION") ??
    "us-east-1";
  const accessKeyId = envValue(env, "MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID");
  const secretAccessKey = envValue(env, "MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY");
  const out: Omit<S3Location, "kind" | "bucket" | "prefix"> = {
    region,
    // MinIO, R2, s3rver and most self-hosted endpoints only speak path-style addressing.
    forcePathStyle: endpoint !== undefined,
  };
  if (endpoint) out.endpoint = endpoint;
  if (accessKeyId && secretAccessKey) out.credentials = { accessKeyId, secretAccessKey };
  return out;
}

export const s3Kind: TransportKind<S3Location> = {
  scheme: "s3",
  layouts: ["mvm", "original"],
  credentialHint: S3_CREDENTIAL_HINT,
  parse(url, rest, env) {
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "mvm" : cleanPrefix(rest.slice(slash + 1)) || "mvm";
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      throw usageError(`invalid S3 bucket ${JSON.stringify(bucket)} in ${JSON.stringify(url)}`);
    checkKeyPath("prefix", prefix);
    return { kind: "s3", bucket, prefix, ...s3Common(env) };
  },
  /**
   * The original mvm's configuration, used when no URL is given: an endpoint, a bucket and static keys
   * in MVM_TEMPLATE_REGISTRY_* variables (same names and rules as the original).
   */
  fromEnv(env) {
    const endpoint = envValue(env, "MVM_TEMPLATE_REGISTRY_ENDPOINT");
    if (!endpoint) return undefined;
    const bucket = envValue(env, "MVM_TEMPLATE_REGISTRY_BUCKET");
    if (!bucket) throw usageError("MVM_TEMPLATE_REGISTRY_BUCKET must be set when registry endpoint is set");
    for (const key of ["MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID", "MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY"])
      if (!envValue(env, key)) throw usageError(`${key} must be set when registry endpoint is set`);
    const rawPrefix = env.MVM_TEMPLATE_REGISTRY_PREFIX;
    const prefix = rawPrefix === undefined || rawPrefix.trim() === "" ? "mvm" : cleanPrefix(rawPrefix.trim());
    if (prefix === "") throw usageError("Template registry prefix is empty");
    checkKeyPath("prefix", prefix);
    return { kind: "s3", bucket, prefix, ...s3Common(env) };
  },
  describe: (loc) => `s3://${loc.bucket}/${loc.prefix}${loc.endpoint ? ` at ${loc.endpoint}` : ""}`,
  open: (loc) => S3Transport.open(loc),
};

// Part size and parts in flight bound the upload buffers (PART_SIZE × (QUEUE + 1)); both can be tuned for
// fat links with MVM_S3_PART_MIB (5-512) and MVM_S3_QUEUE (1-16).
function tunable(name: string, dflt: number, min: number, max: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v >= min && v <= max ? v : dflt;
}
const PART_SIZE = tunable("MVM_S3_PART_MIB", 5, 5, 512) << 20;
const QUEUE = tunable("MVM_S3_QUEUE", 4, 1, 16);
const META_SHA = "mvm-sha256";
const META_ENCODING = "mvm-encoding";

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(e: unknown): boolean {
  const name = (e as { name?: string }).name;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(e) === 404;
}

/** Turns SDK failures that retrying cannot fix into one-line errors (never including credentials). */
function s3Failure(what: string, e: unknown): unknown {
  const status = statusOf(e);
  if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
    const name = (e as { name?: string }).name ?? "Error";
    const hint =
      status === 403
        ? "Check the access key and secret (MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID / _SECRET_ACCESS_KEY or AWS_*)."
        : name === "NoSuchBucket"
          ? "Create the bucket first, or fix the bucket name."
          : undefined;
    return new MvmError(
      "network",
      `${what}: ${name} (HTTP ${status}): ${(e as Error).message}`,
      hint ? { hint } : {},
    );
  }
  return e;
}

/** A document's body (index, `current`), read only up to MAX_METADATA_BYTES. */
async function bodyText(body: unknown, declared: number | undefined, what: string): Promise<string> {
  const tooLarge = (n: number) =>
    new MvmError(
      "corrupt",
      `${what} is ${n} bytes, more than the ${MAX_METADATA_BYTES} a registry document may have`,
    );
  if (declared !== undefined && declared > MAX_METADATA_BYTES) {
    await (body as { destroy?: () => void } | undefined)?.destroy?.();
    throw tooLarge(declared);
  }
  if (!body || typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== "function")
    throw new MvmError("network", "S3 answered without a body");
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > MAX_METADATA_BYTES) {
      (body as { destroy?: () => void }).destroy?.();
      throw tooLarge(total);
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString("utf8");
}

type S3Sdk = typeof import("@aws-sdk/client-s3");

export class S3Transport implements RegistryTransport, Copier {
  readonly kind = "s3" as const;
  readonly display: string;
  private readonly client: S3Client;

  /** The AWS SDK is loaded only when an S3 registry is opened: it is large, and most commands need none. */
  static async open(loc: S3Location): Promise<S3Transport> {
    return new S3Transport(loc, await import("@aws-sdk/client-s3"));
  }

  private constructor(
    private readonly loc: S3Location,
    private readonly sdk: S3Sdk,
  ) {
    this.display = s3Kind.describe(loc);
    // The SDK warns on every run that future releases need Node 22; that is ours to track, not the user's.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const config: S3ClientConfig = {
      region: loc.region,
      forcePathStyle: loc.forcePathStyle,
      // The SDK retries single requests (a part, a GET); MVM_REGISTRY_RETRIES=0 turns that off too.
      maxAttempts: retryAttempts() === 0 ? 1 : 3,
      // Checksums are ours (SHA-256 over the decoded bytes); the SDK's extra CRC trailers are not
      // understood by every S3-compatible server.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    };
    if (loc.endpoint) config.endpoint = loc.endpoint;
    if (loc.credentials) config.credentials = loc.credentials;
    this.client = new sdk.S3Client(config);
  }

  private key(template: string, rest: string): string {
    return `${templateKey(this.loc.prefix, template)}/${rest}`;
  }

  private async getText(key: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.loc.bucket, Key: key }),
      );
      return await bodyText(out.Body, out.ContentLength, `s3://${this.loc.bucket}/${key}`);
    } catch (e) {
      if (e instanceof MvmError) throw e;
      if (isNotFound(e)) return undefined;
      throw s3Failure(`reading s3://${this.loc.bucket}/${key}`, e);
    }
  }

  private async putText(key: string, text: string): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.loc.bucket,
          Key: key,
          Body: text,
          ContentType: "application/json",
        }),
      );
    } catch (e) {
      throw s3Failure(`writing s3://${this.loc.bucket}/${key}`, e);
    }
  }

  async getCurrent(template: string): Promise<string | undefined> {
    const text = await this.getText(this.key(template, "current"));
    if (text === undefined) return undefined;
    const rev = text.trim();
    if (rev === "")
      throw new MvmError("corrupt", `Registry current revision is empty for template ${template}`);
    return rev;
  }

  async getIndex(template: string, rev: string): Promise<RemoteIndex | undefined> {
    const key = this.key(template, `revisions/${rev}/${CHECKSUMS_FILE}`);
    const text = await this.getText(key);
    if (text === undefined) return undefined;
    return parseRemoteIndex(`s3://${this.loc.bucket}/${key}`, text, (name) =>
      this.objectSize(this.key(template, `revisions/${rev}/${name}`)),
    );
  }

  /** Size of an object, or undefined when there is none. */
  private async objectSize(key: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.loc.bucket, Key: key }),
      );
      return head.ContentLength;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw s3Failure(`checking s3://${this.loc.bucket}/${key}`, e);
    }
  }

  async hasObject(template: string, rev: string, obj: Required<StoredObject>): Promise<boolean> {
    const key = this.key(template, `revisions/${rev}/${obj.name}`);
    try {
      const head = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.loc.bucket, Key: key }),
      );
      // The stored bytes are a pure function of the file's bytes and the encoding.
      if (head.ContentLength !== obj.stored_size) return false;
      // An object written by another client (the original mvm, aws s3 cp) carries no metadata: a
      // plain object of the right size is what the index describes (a pull still checks every byte).
      if (head.Metadata?.[META_SHA] === undefined && head.Metadata?.[META_ENCODING] === undefined)
        return obj.encoding === "identity";
      return head.Metadata?.[META_SHA] === obj.sha256 && head.Metadata?.[META_ENCODING] === obj.encoding;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw s3Failure(`checking s3://${this.loc.bucket}/${key}`, e);
    }
  }

  async copyObject(
    template: string,
    fromRev: string,
    toRev: string,
    obj: Required<StoredObject>,
  ): Promise<boolean> {
    // A single CopyObject handles up to 5 GiB; larger objects are simply uploaded again.
    if (obj.stored_size > 5 * 1024 ** 3 || !(await this.hasObject(template, fromRev, obj))) return false;
    const from = this.key(template, `revisions/${fromRev}/${obj.name}`);
    const Key = this.key(template, `revisions/${toRev}/${obj.name}`);
    try {
      await this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.loc.bucket,
          Key,
          // Keys are made of [a-z0-9._/-] only (validated names), so no escaping is needed.
          CopySource: `${this.loc.bucket}/${from}`,
          MetadataDirective: "COPY",
        }),
      );
    } catch (e) {
      throw s3Failure(`copying s3://${this.loc.bucket}/${from}`, e);
    }
    return true;
  }

  /**
   * Streams one object up. Objects smaller than a part go up with one PutObject; larger ones as a
   * multipart upload with up to QUEUE parts in flight, each part copied into one of QUEUE + 1 reused
   * buffers, so memory stays at PART_SIZE × (QUEUE + 1) whatever the object's size. The SDK retries
   * a failed part on its own; an upload that fails for good is aborted so no parts are left behind.
   */
  async putObject(
    template: string,
    rev: string,
    obj: StoredObject,
    body: UploadBody,
    onBytes: (n: number) => void,
  ): Promise<Uploaded> {
    const Bucket = this.loc.bucket;
    const Key = this.key(template, `revisions/${rev}/${obj.name}`);
    const where = `uploading s3://${Bucket}/${Key}`;
    const Metadata = { [META_SHA]: obj.sha256, [META_ENCODING]: obj.encoding };
    const free: Buffer[] = [Buffer.allocUnsafe(PART_SIZE)];
    let made = 1;
    const takeBuffer = async (): Promise<Buffer> => {
      while (free.length === 0) {
        if (made < QUEUE + 1) {
          made++;
          return Buffer.allocUnsafe(PART_SIZE);
        }
        await Promise.race(inFlight);
      }
      return free.pop()!;
    };
    const inFlight = new Set<Promise<void>>();
    const parts: { PartNumber: number; ETag: string }[] = [];
    let uploadId: string | undefined;
    let failure: unknown;
    const sendPart = (buf: Buffer, length: number, PartNumber: number) => {
      // Started on the next tick, so `p` is assigned before its own finally block runs.
      const p: Promise<void> = Promise.resolve().then(async () => {
        try {
          const out = await this.client.send(
            new this.sdk.UploadPartCommand({
              Bucket,
              Key,
              UploadId: uploadId,
              PartNumber,
              Body: buf.subarray(0, length),
              ContentLength: length,
            }),
          );
          if (!out.ETag) throw new MvmError("network", `${where}: part ${PartNumber} has no ETag`);
          parts.push({ PartNumber, ETag: out.ETag });
          onBytes(length);
        } catch (e) {
          failure ??= e;
        } finally {
          free.push(buf);
          inFlight.delete(p);
        }
      });
      inFlight.add(p);
    };
    try {
      let cur = await takeBuffer();
      let fill = 0;
      let partNumber = 0;
      for await (const chunk of body.chunks) {
        let used = 0;
        while (used < chunk.length) {
          const n = chunk.copy(cur, fill, used);
          fill += n;
          used += n;
          if (fill < PART_SIZE) continue;
          if (failure) throw failure;
          if (!uploadId) {
            const created = await this.client.send(
              new this.sdk.CreateMultipartUploadCommand({
                Bucket,
                Key,
                Metadata,
                ContentType: "application/octet-stream",
              }),
            );
            if (!created.UploadId) throw new MvmError("network", `${where}: no upload id`);
            uploadId = created.UploadId;
          }
          sendPart(cur, fill, ++partNumber);
          cur = await takeBuffer();
          fill = 0;
        }
      }
      if (!uploadId) {
        await this.client.send(
          new this.sdk.PutObjectCommand({
            Bucket,
            Key,
            Body: cur.subarray(0, fill),
            ContentLength: fill,
            Metadata,
            ContentType: "application/octet-stream",
          }),
        );
        onBytes(fill);
        return body.result();
      }
      if (fill > 0) sendPart(cur, fill, ++partNumber);
      while (inFlight.size > 0) await Promise.race(inFlight);
      if (failure) throw failure;
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.client.send(
        new this.sdk.CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      return body.result();
    } catch (e) {
      while (inFlight.size > 0) await Promise.race(inFlight);
      if (uploadId)
        await this.client
          .send(new this.sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }))
          .catch(() => {});
      throw s3Failure(where, e);
    }
  }

  async *getObject(template: string, rev: string, obj: Required<StoredObject>): AsyncIterable<Uint8Array> {
    const key = this.key(template, `revisions/${rev}/${obj.name}`);
    let body: unknown;
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.loc.bucket, Key: key }),
      );
      body = out.Body;
    } catch (e) {
      if (isNotFound(e))
        throw new MvmError("not_found", `registry object s3://${this.loc.bucket}/${key} is missing`);
      throw s3Failure(`downloading s3://${this.loc.bucket}/${key}`, e);
    }
    yield* body as AsyncIterable<Uint8Array>;
  }

  async commit(template: string, rev: string, index: RemoteIndex): Promise<undefined> {
    await this.putText(this.key(template, `revisions/${rev}/${CHECKSUMS_FILE}`), renderRemoteIndex(index));
  }

  async setCurrent(template: string, rev: string): Promise<void> {
    await this.putText(this.key(template, "current"), `${rev}\n`);
  }

  private async listKeys(
    prefix: string,
    delimiter?: string,
  ): Promise<{ keys: string[]; prefixes: string[] }> {
    const keys: string[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      let out: import("@aws-sdk/client-s3").ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.loc.bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (e) {
        throw s3Failure(`listing s3://${this.loc.bucket}/${prefix}`, e);
      }
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return { keys, prefixes };
  }

  /** Whether the server refuses a write whose If-None-Match / If-Match fails; asked once per transport. */
  private conditional: Promise<boolean> | undefined;
  conditionalWritesIgnored?: boolean;

  async getTag(template: string, tag: string): Promise<RemoteTag | undefined> {
    const Key = this.key(template, `tags/${tag}`);
    try {
      const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.loc.bucket, Key }));
      const rev = (await bodyText(out.Body, out.ContentLength, `s3://${this.loc.bucket}/${Key}`)).trim();
      if (revisionProblem(rev))
        throw new MvmError("corrupt", `s3://${this.loc.bucket}/${Key} does not name a revision`);
      return { rev, version: out.ETag ?? rev };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (e instanceof MvmError) throw e;
      throw s3Failure(`reading s3://${this.loc.bucket}/${Key}`, e);
    }
  }

  /**
   * Writes a scratch object twice, the second time with If-None-Match: *. A server that honours
   * conditional writes answers 412; one that stores the object again ignores them (s3rver does).
   */
  private async probeConditional(template: string): Promise<boolean> {
    const Key = this.key(template, `tags/.probe-${process.pid}-${Date.now().toString(36)}`);
    const Bucket = this.loc.bucket;
    try {
      await this.client.send(new this.sdk.PutObjectCommand({ Bucket, Key, Body: "probe\n" }));
      try {
        await this.client.send(
          new this.sdk.PutObjectCommand({ Bucket, Key, Body: "probe\n", IfNoneMatch: "*" }),
        );
        return false;
      } catch (e) {
        if (statusOf(e) === 412) return true;
        throw s3Failure(`probing conditional writes at s3://${Bucket}/${Key}`, e);
      }
    } finally {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket, Key })).catch(() => {});
    }
  }

  async putTag(
    template: string,
    tag: string,
    rev: string,
    expected: RemoteTag | undefined,
  ): Promise<TagGuard> {
    const Key = this.key(template, `tags/${tag}`);
    const Bucket = this.loc.bucket;
    this.conditional ??= this.probeConditional(template);
    const honoured = await this.conditional;
    this.conditionalWritesIgnored = !honoured;
    if (honoured) {
      try {
        await this.client.send(
          new this.sdk.PutObjectCommand({
            Bucket,
            Key,
            Body: `${rev}\n`,
            ContentType: "text/plain",
            ...(expected ? { IfMatch: expected.version } : { IfNoneMatch: "*" }),
          }),
        );
        return "conditional";
      } catch (e) {
        const status = statusOf(e);
        if (status === 412 || status === 409)
          throw tagConflict(template, tag, await this.getTag(template, tag));
        throw s3Failure(`writing s3://${Bucket}/${Key}`, e);
      }
    }
    // The server would store the write whatever the condition: read, compare, write, read back.
    const before = await this.getTag(template, tag);
    if (!sameTag(before, expected)) throw tagConflict(template, tag, before);
    await this.putText(Key, `${rev}\n`);
    const after = await this.getTag(template, tag);
    if (after?.rev !== rev) throw tagConflict(template, tag, after);
    return "checked";
  }

  async list(): Promise<RemoteTemplate[]> {
    const base = `${templateKey(this.loc.prefix, "")}`;
    const { prefixes } = await this.listKeys(base, "/");
    const out: RemoteTemplate[] = [];
    for (const p of prefixes.sort()) {
      const name = p.slice(base.length).replace(/\/$/, "");
      if (templateNameProblem(name)) continue;
      const { keys } = await this.listKeys(`${p}revisions/`);
      const revisions = new Set<string>();
      for (const k of keys) {
        const m = /^([^/]+)\/checksums\.json$/.exec(k.slice(`${p}revisions/`.length));
        if (m?.[1] && !revisionProblem(m[1])) revisions.add(m[1]);
      }
      const current = (await this.getCurrent(name).catch(() => undefined)) ?? null;
      out.push({ name, current, revisions: [...revisions].sort() });
    }
    return out;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
