import type { Encoding, RegistryLayout, RemoteIndex } from "../index.js";

// One interface for every registry kind. A transport moves opaque stored objects (already encoded)
// and the revision index; push, pull and verify (push.ts, pull.ts, verify.ts) do the rest. What only
// some registries can do is a small capability interface of its own (Copier, DigestAddressed), which a
// transport implements or not. Adding a registry kind means adding one file under transports/ that
// exports a TransportKind, and naming it in the list in transports/index.ts.

/** One file of a revision as the registry stores it. */
export interface StoredObject {
  /** Artifact name from the closed set (src/core/artifacts.ts), e.g. "rootfs.ext4", "snapshot/mem.bin". */
  name: string;
  encoding: Encoding;
  /** SHA-256 and size of the decoded file. */
  sha256: string;
  size: number;
  /** SHA-256 and size of the stored bytes; known before upload only when the encoding is identity. */
  stored_sha256?: string;
  stored_size?: number;
}

/** What an upload learned about the stored bytes. */
export interface Uploaded {
  stored_sha256: string;
  stored_size: number;
}

/** A stream of stored bytes that also reports the digest once it has been consumed. */
export interface UploadBody {
  /**
   * Each chunk is valid until two more have been requested: a transport may keep one write in
   * flight while it asks for the next chunk, and copies whatever it keeps longer.
   */
  chunks: AsyncIterable<Buffer>;
  /** Filled in when `chunks` is exhausted. */
  result(): Uploaded;
}

export interface RemoteTemplate {
  name: string;
  current: string | null;
  revisions: string[];
}

/** A tag as the registry holds it: the revision it names and a token that changes when it moves. */
export interface RemoteTag {
  rev: string;
  version: string;
}

/**
 * How a tag move was guarded against a concurrent one: "conditional" when the registry itself refused
 * a write whose expected version no longer matched (S3 If-Match / If-None-Match, a no-replace link
 * on file://); "checked" when the tag was read before and after the write, which two pushes racing
 * within the same instant can both pass (OCI, and S3 servers that ignore conditional writes).
 */
export type TagGuard = "conditional" | "checked";

/** Moving tags in the registry; every transport has it (a tag is a registry tag on OCI, an object else). */
export interface RemoteTags {
  getTag(template: string, tag: string): Promise<RemoteTag | undefined>;
  /**
   * Points `tag` at `rev` if it still is `expected` (undefined: the tag does not exist), else throws
   * the error of tagConflict(). Only called once `rev` is committed.
   */
  putTag(template: string, tag: string, rev: string, expected: RemoteTag | undefined): Promise<TagGuard>;
  /** Set when the registry was found to ignore conditional writes (said once by the caller). */
  readonly conditionalWritesIgnored?: boolean;
}

export interface RegistryTransport extends RemoteTags {
  /** The registry's address for messages, without credentials. */
  readonly display: string;
  /** The scheme of its URL (file, s3, oci). */
  readonly kind: string;
  /** A digest or tag the location pins (OCI): reads go to that manifest, and pushes are refused. */
  readonly pinned?: string;
  /** Revision `current` names, or undefined when the template has none. */
  getCurrent(template: string): Promise<string | undefined>;
  /** Index of a committed revision, or undefined when the registry does not hold it. */
  getIndex(template: string, rev: string): Promise<RemoteIndex | undefined>;
  /** Whether the registry already holds these stored bytes where this revision would read them. */
  hasObject(template: string, rev: string, obj: Required<StoredObject>): Promise<boolean>;
  /** Uploads one object (streamed; `onBytes` reports stored bytes sent). */
  putObject(
    template: string,
    rev: string,
    obj: StoredObject,
    body: UploadBody,
    onBytes: (n: number) => void,
  ): Promise<Uploaded>;
  /** Streams one stored object back. */
  getObject(template: string, rev: string, obj: Required<StoredObject>): AsyncIterable<Uint8Array>;
  /**
   * Makes a revision visible: its index after every object (S3/file), or its manifest (OCI). Returns
   * the digest of what was committed where the registry addresses revisions by digest (OCI).
   */
  commit(template: string, rev: string, index: RemoteIndex): Promise<string | undefined>;
  /** Moves `current`: always the last step of a push. */
  setCurrent(template: string, rev: string): Promise<void>;
  list(): Promise<RemoteTemplate[]>;
  close(): Promise<void>;
}

/**
 * A registry that copies a stored object of one revision to another inside itself, no bytes through
 * this host (file, S3). Registries whose revisions share storage (OCI blobs) have no need of it.
 */
export interface Copier {
  /** False when the source is not there as described. */
  copyObject(template: string, fromRev: string, toRev: string, obj: Required<StoredObject>): Promise<boolean>;
}

/** A registry that addresses each revision by a digest of its own (OCI: the manifest's). */
export interface DigestAddressed {
  /** The revision's digest where the registry has one; a pinned location answers for what it pins. */
  digestOf(template: string, rev: string): Promise<string | undefined>;
}

export function isCopier(t: RegistryTransport): t is RegistryTransport & Copier {
  return typeof (t as Partial<Copier>).copyObject === "function";
}

export function isDigestAddressed(t: RegistryTransport): t is RegistryTransport & DigestAddressed {
  return typeof (t as Partial<DigestAddressed>).digestOf === "function";
}

/** A registry kind: how its URL reads, how it is described, and how a transport for it is opened. */
export interface TransportKind<L extends { kind: string }> {
  /** The URL scheme, also the location's `kind`. */
  readonly scheme: L["kind"];
  /** The layouts a push may write; "original" only where the original mvm reads this kind. */
  readonly layouts: readonly RegistryLayout[];
  /** Where the credentials of this kind go instead of the URL (shown when a URL carries some). */
  readonly credentialHint: string;
  /** Parses `<scheme>://<rest>`; throws a usage error naming what is wrong. */
  parse(url: string, rest: string, env: NodeJS.ProcessEnv): L;
  /** A location from variables of the environment alone, where this kind has such a form. */
  fromEnv?(env: NodeJS.ProcessEnv): L | undefined;
  /** The address for messages, without credentials. */
  describe(loc: L): string;
  open(loc: L): Promise<RegistryTransport>;
}
