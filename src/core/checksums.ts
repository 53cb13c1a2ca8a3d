import { isKnownArtifact } from "./artifacts.js";
import { revisionProblem, templateNameProblem } from "./names.js";
import { checkSchemaVersion } from "./schema.js";
import { Reader, ShapeError, U32 } from "./validate.js";

export const CHECKSUMS_SCHEMA_VERSION = 1;

/** checksums.json, as the original mvm writes it: SHA-256 of every artifact of a revision, keys sorted. */
export interface Checksums {
  schema_version: number;
  template_id: string;
  revision_hash: string;
  files: Record<string, string>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function parseChecksums(v: unknown): Checksums {
  const r = Reader.root(v, "checksums.json");
  const schema_version = r.intOr("schema_version", 0, U32, 0);
  checkSchemaVersion(schema_version, CHECKSUMS_SCHEMA_VERSION);
  const files = r.obj_("files");
  const out: Record<string, string> = {};
  const keys = files.keys();
  if (keys.length > 64) throw new ShapeError("files", "more than 64 entries");
  for (const name of keys) {
    // Names become paths on pull: only the closed set of artifact names is accepted.
    if (!isKnownArtifact(name)) throw new ShapeError(`files`, `unexpected file name ${JSON.stringify(name)}`);
    out[name] = files.string(name, { pattern: SHA256_HEX });
  }
  return {
    schema_version,
    template_id: r.string("template_id", { check: templateNameProblem }),
    revision_hash: r.string("revision_hash", { check: revisionProblem }),
    files: sortedRecord(out),
  };
}

export function newChecksums(
  template_id: string,
  revision_hash: string,
  files: Record<string, string>,
): Checksums {
  return { schema_version: CHECKSUMS_SCHEMA_VERSION, template_id, revision_hash, files: sortedRecord(files) };
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}
