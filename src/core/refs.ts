import { usageError } from "./errors.js";
import { revisionProblem, templateNameProblem } from "./names.js";
import { checkSchemaVersion } from "./schema.js";
import { Reader, ShapeError, U32 } from "./validate.js";

// Names for revisions besides their hash: tags a user moves (`stable`, `v2`) and the registry
// digests a revision was pushed or pulled as. Both live in <data>/templates/<name>/refs.json.

export const REFS_SCHEMA_VERSION = 1;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX_REFS = 10_000;

/** Why a tag name cannot be used, or undefined. */
export function tagProblem(tag: string): string | undefined {
  if (!TAG.test(tag)) return "must be 1-128 of [A-Za-z0-9_.-], not starting with . or -";
  if (tag === "current") return "'current' always names the current revision";
  if (!revisionProblem(tag)) return "looks like a revision hash; registries tag every revision by its hash";
  return undefined;
}

export function validateTag(tag: string): string {
  const p = tagProblem(tag);
  if (p) throw usageError(`invalid tag ${JSON.stringify(tag)}: ${p}`);
  return tag;
}

/** `NAME`, `NAME:TAG` or `NAME@sha256:<hex>`: a template and which of its revisions. */
export type TemplateRef =
  | { name: string; kind: "current" }
  | { name: string; kind: "tag"; tag: string }
  | { name: string; kind: "digest"; digest: string };

export function parseTemplateRef(text: string): TemplateRef {
  const at = text.indexOf("@");
  const colon = text.indexOf(":");
  const checkName = (name: string) => {
    const p = templateNameProblem(name);
    if (p) throw usageError(`invalid template ${JSON.stringify(text)}: ${p}`);
    return name;
  };
  if (at >= 0) {
    const digest = text.slice(at + 1);
    if (!DIGEST.test(digest))
      throw usageError(`invalid template ${JSON.stringify(text)}: a digest is sha256: and 64 hex digits`);
    return { name: checkName(text.slice(0, at)), kind: "digest", digest };
  }
  if (colon >= 0) {
    const tag = text.slice(colon + 1);
    if (tag === "current") return { name: checkName(text.slice(0, colon)), kind: "current" };
    const p = tagProblem(tag);
    if (p) throw usageError(`invalid template ${JSON.stringify(text)}: tag ${JSON.stringify(tag)} ${p}`);
    return { name: checkName(text.slice(0, colon)), kind: "tag", tag };
  }
  return { name: checkName(text), kind: "current" };
}

export function formatTemplateRef(ref: TemplateRef): string {
  if (ref.kind === "tag") return `${ref.name}:${ref.tag}`;
  if (ref.kind === "digest") return `${ref.name}@${ref.digest}`;
  return ref.name;
}

export interface TemplateRefs {
  schema_version: number;
  /** tag -> revision */
  tags: Record<string, string>;
  /** registry digest (sha256:…) -> revision */
  digests: Record<string, string>;
}

export function emptyRefs(): TemplateRefs {
  return { schema_version: REFS_SCHEMA_VERSION, tags: {}, digests: {} };
}

function readMap(
  r: Reader,
  key: string,
  keyCheck: (k: string) => string | undefined,
): Record<string, string> {
  if (!r.has(key)) return {};
  const m = r.obj_(key);
  const out: Record<string, string> = {};
  const keys = m.keys();
  if (keys.length > MAX_REFS) throw new ShapeError(key, `more than ${MAX_REFS} entries`);
  for (const k of keys) {
    const p = keyCheck(k);
    if (p) throw new ShapeError(`${key}.${k.slice(0, 80)}`, p);
    out[k] = m.string(k, { check: revisionProblem });
  }
  return out;
}

export function parseRefs(v: unknown): TemplateRefs {
  const r = Reader.root(v, "refs.json");
  const schema_version = r.intOr("schema_version", 0, U32, 1);
  checkSchemaVersion(schema_version, REFS_SCHEMA_VERSION);
  return {
    schema_version,
    tags: readMap(r, "tags", tagProblem),
    digests: readMap(r, "digests", (k) => (DIGEST.test(k) ? undefined : "not a sha256 digest")),
  };
}
