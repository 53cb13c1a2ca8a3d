import { parse as parseToml } from "smol-toml";
import { MvmError } from "./errors.js";
import { flakeRefProblem } from "./flake-ref.js";
import { identProblem, templateNameProblem } from "./names.js";
import { CPU_BOUNDS, DATA_DISK_BOUNDS, MEM_BOUNDS, parseHumanSizeMiB, type SizeBounds } from "./sizes.js";
import { SPEC_DEFAULTS } from "./spec.js";

// `mvm.toml`, the template manifest that lives beside flake.nix and is kept in version control.
// It names the template and its sizing; `mvmctl build` turns it into the store's template.json.

export const MANIFEST_FILE = "mvm.toml";
export const MANIFEST_SCHEMA_VERSION = 1;
export const MANIFEST_MAX_BYTES = 64 * 1024;
const READY_TIMEOUT_MAX_S = 86_400;
const DEFAULT_MANIFEST_READY_TIMEOUT_S = 300;

export interface TemplateManifest {
  schema_version: number;
  name: string;
  /** As written: a path relative to the manifest's directory, or a flake URL. */
  flake: string;
  profile: string;
  role: string;
  vcpus: number;
  mem_mib: number;
  data_disk_mib: number;
  snapshot: { ready_timeout_s: number | undefined };
}

const TOP_KEYS = [
  "schema_version",
  "name",
  "flake",
  "profile",
  "role",
  "vcpus",
  "mem",
  "data_disk",
  "snapshot",
];
const SNAPSHOT_KEYS = ["ready_timeout"];

/** Text from a hand-edited file, fit for a one-line error: control characters escaped, length capped. */
export function printable(text: string, max = 120): string {
  const escaped = text.replace(
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/** The 1-based line where `key` is assigned inside `[table]` (top level when table is ""), if found. */
export function keyLine(text: string, table: string, key: string): number | undefined {
  let current = "";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const header = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) {
      current = header[1]!.replace(/^"(.*)"$/, "$1");
      if (table === "" && current === key) return i + 1;
      continue;
    }
    if (current !== table) continue;
    const m = /^("([^"]*)"|'([^']*)'|([A-Za-z0-9_.-]+))\s*=/.exec(line);
    const name = m ? (m[2] ?? m[3] ?? m[4]) : undefined;
    if (name === key || name?.startsWith(`${key}.`)) return i + 1;
  }
  return undefined;
}

class ManifestProblem extends Error {
  constructor(
    readonly table: string,
    readonly key: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v !== null && typeof v === "object") return "a table";
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

function stringField(
  obj: Record<string, unknown>,
  key: string,
  dflt: string,
  check: (s: string) => string | undefined,
): string {
  const v = obj[key];
  if (v === undefined) return dflt;
  if (typeof v !== "string") throw new ManifestProblem("", key, `expected a string, got ${describe(v)}`);
  const problem = check(v);
  if (problem) throw new ManifestProblem("", key, problem);
  return v;
}

function sizeField(obj: Record<string, unknown>, key: string, dflt: number, bounds: SizeBounds): number {
  const v = obj[key];
  if (v === undefined) return dflt;
  let mib: number | string;
  if (typeof v === "number" || typeof v === "bigint") mib = Number(v);
  else if (typeof v === "string") mib = parseHumanSizeMiB(v);
  else throw new ManifestProblem("", key, `expected a size like "512M" or "2G", got ${describe(v)}`);
  if (typeof mib === "string") throw new ManifestProblem("", key, mib);
  if (!Number.isSafeInteger(mib) || mib < bounds.min || mib > bounds.max)
    throw new ManifestProblem("", key, `must be between ${bounds.min} and ${bounds.max} MiB, got ${v}`);
  return mib;
}

function intField(
  table: string,
  obj: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n))
    throw new ManifestProblem(table, key, `expected a whole number, got ${describe(v)}`);
  if (n < min || n > max) throw new ManifestProblem(table, key, `${n} is outside ${min}..${max}`);
  return n;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function read(raw: Record<string, unknown>): TemplateManifest {
  const schema_version = intField("", raw, "schema_version", 0, 4294967295) ?? MANIFEST_SCHEMA_VERSION;
  if (schema_version > MANIFEST_SCHEMA_VERSION)
    throw new MvmError(
      "newer_schema",
      `schema_version ${schema_version} is newer than this mvmctl reads (${MANIFEST_SCHEMA_VERSION}): upgrade mvmctl`,
    );
  for (const k of Object.keys(raw))
    if (!TOP_KEYS.includes(k)) throw new ManifestProblem("", k, `unknown key ${JSON.stringify(k)}`);
  if (raw.name === undefined)
    throw new ManifestProblem("", "name", "the template name is missing (name = ...)");
  const name = stringField(raw, "name", "", (s) => templateNameProblem(s));
  const flake = stringField(raw, "flake", SPEC_DEFAULTS.flake, (s) => flakeRefProblem(s));
  const profile = stringField(raw, "profile", SPEC_DEFAULTS.profile, (s) => identProblem(s));
  const role = stringField(raw, "role", SPEC_DEFAULTS.role, (s) => identProblem(s));
  const vcpus = intField("", raw, "vcpus", CPU_BOUNDS.min, CPU_BOUNDS.max) ?? SPEC_DEFAULTS.vcpus;
  const mem_mib = sizeField(raw, "mem", SPEC_DEFAULTS.mem_mib, MEM_BOUNDS);
  const data_disk_mib = sizeField(raw, "data_disk", SPEC_DEFAULTS.data_disk_mib, DATA_DISK_BOUNDS);
  let ready_timeout_s: number | undefined;
  if (raw.snapshot !== undefined) {
    if (!isTable(raw.snapshot))
      throw new ManifestProblem("", "snapshot", `expected a [snapshot] table, got ${describe(raw.snapshot)}`);
    for (const k of Object.keys(raw.snapshot))
      if (!SNAPSHOT_KEYS.includes(k))
        throw new ManifestProblem("snapshot", k, `unknown key ${JSON.stringify(`snapshot.${k}`)}`);
    ready_timeout_s = intField("snapshot", raw.snapshot, "ready_timeout", 1, READY_TIMEOUT_MAX_S);
  }
  return {
    schema_version,
    name,
    flake,
    profile,
    role,
    vcpus,
    mem_mib,
    data_disk_mib,
    snapshot: { ready_timeout_s },
  };
}

/** Parses and validates mvm.toml; every error names the file and, when it can, the key's line. */
export function parseManifest(file: string, text: string): TemplateManifest {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    const msg = printable((e as Error).message.split("\n")[0] ?? "");
    throw new MvmError("corrupt", `${file} is not valid TOML: ${msg}`);
  }
  try {
    return read(raw);
  } catch (e) {
    if (e instanceof MvmError && e.kind === "newer_schema") {
      const line = keyLine(text, "", "schema_version");
      throw new MvmError("newer_schema", `${file}${line ? `:${line}` : ""}: ${e.message}`);
    }
    if (!(e instanceof ManifestProblem)) throw e;
    const line = keyLine(text, e.table, e.key);
    const key = printable(e.table ? `${e.table}.${e.key}` : e.key, 80);
    throw new MvmError("usage", `${file}${line ? `:${line}` : ""}: ${key}: ${printable(e.problem, 200)}`);
  }
}

/** Sizes are written back the way people write them: "512M", "2G". */
export function formatSizeMiB(mib: number): string {
  return mib % 1024 === 0 && mib > 0 ? `${mib / 1024}G` : `${mib}M`;
}

/** What a fresh manifest says besides the name. */
export const MANIFEST_DEFAULTS = {
  flake: SPEC_DEFAULTS.flake,
  profile: SPEC_DEFAULTS.profile,
  vcpus: SPEC_DEFAULTS.vcpus,
  mem_mib: SPEC_DEFAULTS.mem_mib,
  data_disk_mib: SPEC_DEFAULTS.data_disk_mib,
} as const;

/** The manifest text `template init` writes. */
export function renderManifest(m: Omit<TemplateManifest, "schema_version" | "snapshot" | "role">): string {
  return [
    "# mvmctl template manifest: `mvmctl build` creates or updates the template from it.",
    `schema_version = ${MANIFEST_SCHEMA_VERSION}`,
    `name = ${JSON.stringify(m.name)}`,
    `flake = ${JSON.stringify(m.flake)}`,
    `profile = ${JSON.stringify(m.profile)}`,
    `vcpus = ${m.vcpus}`,
    `mem = ${JSON.stringify(formatSizeMiB(m.mem_mib))}`,
    `data_disk = ${JSON.stringify(formatSizeMiB(m.data_disk_mib))}`,
    "",
    "[snapshot]",
    "# seconds `build --snapshot` waits for every health check to pass",
    `ready_timeout = ${DEFAULT_MANIFEST_READY_TIMEOUT_S}`,
    "",
  ].join("\n");
}
