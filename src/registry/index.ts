import { CHECKSUMS_SCHEMA_VERSION, type Checksums, parseChecksums } from "../core/checksums.js";
import { MvmError } from "../core/errors.js";
import { canonicalJson } from "../core/canonical-json.js";
import { parseJsonFile } from "../core/schema.js";
import { Reader, ShapeError, U64 } from "../core/validate.js";
import { SPARSE_ENCODING } from "./sparse.js";

// The checksums.json a registry holds for a revision: the original's document (schema_version,
// template_id, revision_hash, files) plus a `transfer` map saying how each file is stored remotely
// (its encoding, and the size and digest of the stored bytes). Readers that only know the original's
// fields still see the SHA-256 of every decoded file.

export type Encoding = "identity" | typeof SPARSE_ENCODING;

export interface StoredForm {
  encoding: Encoding;
  /** Decoded (real) size of the file. */
  size: number;
  /** Size and SHA-256 of the bytes the registry stores (equal to the file's for "identity"). */
  stored_size: number;
  stored_sha256: string;
}

/** "mvm": the index carries `transfer`; "original": plain objects, the original's index shape. */
export type RegistryLayout = "mvm" | "original";

export const REGISTRY_LAYOUTS: readonly RegistryLayout[] = ["mvm", "original"];

export interface RemoteIndex extends Checksums {
  transfer: Record<string, StoredForm>;
  layout: RegistryLayout;
}

export const CHECKSUMS_SCHEMA = CHECKSUMS_SCHEMA_VERSION;

const SHA256_HEX = /^[0-9a-f]{64}$/;

function parseTransfer(raw: unknown, files: Record<string, string>): Record<string, StoredForm> {
  const r = Reader.root(raw, "transfer");
  const out: Record<string, StoredForm> = {};
  for (const name of Object.keys(files)) {
    if (!r.has(name)) throw new ShapeError(`transfer`, `no entry for ${JSON.stringify(name)}`);
    const e = r.obj_(name);
    const encoding = e.string("encoding", { max: 32 });
    if (encoding !== "identity" && encoding !== SPARSE_ENCODING)
      throw new ShapeError(`transfer.${name}.encoding`, `unknown encoding ${JSON.stringify(encoding)}`);
    out[name] = {
      encoding,
      size: e.int("size", 0, U64),
      stored_size: e.int("stored_size", 0, U64),
      stored_sha256: e.string("stored_sha256", { pattern: SHA256_HEX }),
    };
  }
  for (const name of r.keys())
    if (!Object.hasOwn(files, name))
      throw new ShapeError("transfer", `entry for ${JSON.stringify(name)} that files does not list`);
  return out;
}

/** Size of a stored object, or undefined when the registry does not hold it. */
export type ObjectSize = (name: string) => Promise<number | undefined>;

/**
 * Parses a registry's checksums.json; names outside the closed artifact set are refused. An index in
 * the original's shape (no `transfer`) is completed with the size of each object, read through `size`.
 */
export async function parseRemoteIndex(where: string, text: string, size: ObjectSize): Promise<RemoteIndex> {
  const parsed = parseJsonFile(where, text, (v) => {
    const sums = parseChecksums(v);
    const root = Reader.root(v, "checksums.json");
    if (!root.has("transfer")) return { sums, transfer: undefined };
    return { sums, transfer: parseTransfer(root.raw("transfer"), sums.files) };
  });
  if (parsed.transfer) return { ...parsed.sums, transfer: parsed.transfer, layout: "mvm" };
  const transfer: Record<string, StoredForm> = {};
  for (const [name, sha256] of Object.entries(parsed.sums.files)) {
    const bytes = await size(name);
    if (bytes === undefined)
      throw new MvmError(
        "corrupt",
        `${where} lists ${name}, but the registry holds no such object for this revision`,
      );
    transfer[name] = { encoding: "identity", size: bytes, stored_size: bytes, stored_sha256: sha256 };
  }
  return { ...parsed.sums, transfer, layout: "original" };
}

/** The index as the registry stores it: canonical JSON; without `transfer` in the original layout. */
export function renderRemoteIndex(index: RemoteIndex): string {
  const doc: Record<string, unknown> = {
    schema_version: index.schema_version,
    template_id: index.template_id,
    revision_hash: index.revision_hash,
    files: index.files,
  };
  if (index.layout === "mvm") doc.transfer = index.transfer;
  return canonicalJson(doc);
}

/** Checks that a fetched index belongs to the template and revision it was fetched for. */
export function checkIndexIdentity(index: RemoteIndex, template: string, rev: string, where: string): void {
  if (index.template_id !== template || index.revision_hash !== rev)
    throw new MvmError(
      "corrupt",
      `${where} describes ${index.template_id}/${index.revision_hash}, not ${template}/${rev}`,
    );
}
