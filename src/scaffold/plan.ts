import { MvmError } from "../core/errors.js";
import {
  type Feature,
  FEATURES,
  isFeature,
  isPreset,
  normaliseFeatures,
  PLAN_DEFAULTS,
  type Preset,
  PRESETS,
  type TemplatePlan,
} from "./model.js";

// Plan validation is a whitelist: a plan comes from an LLM, i.e. from untrusted text, and parts of it end up
// in Nix strings, shell commands run as root in the guest, and file paths. Every field is checked against the
// narrowest shape that still serves its purpose; anything else is refused with a message that names the
// field. The original only checked a leading "/".

export const PLAN_SCHEMA_VERSION = 1;

/** An HTTP path made of unreserved URL characters and slashes: safe unquoted in shell, Nix and Python. */
export const HEALTH_PATH_PATTERN = /^\/[A-Za-z0-9._~/-]*$/;
const ENTRY_SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_PATH = 200;
/** The ports and worker intervals a plan may hold, whoever made it. */
export const HTTP_PORT_RANGE = { min: 1, max: 65535 } as const;
export const WORKER_INTERVAL_RANGE = { min: 1, max: 3600 } as const;
const MAX_SUMMARY = 4000;
const MAX_NOTES = 50;
const MAX_NOTE = 2000;

const PLAN_KEYS = [
  "schema_version",
  "summary",
  "primary_preset",
  "features",
  "http_port",
  "health_path",
  "worker_interval_secs",
  "python_entrypoint",
  "notes",
] as const;

/** What the LLM returns (the JSON schema in llm-request.ts), before validation. */
export interface RawPlan {
  schema_version: number;
  summary: string;
  primary_preset: Preset;
  features: Feature[];
  http_port: number | null;
  health_path: string | null;
  worker_interval_secs: number | null;
  python_entrypoint: string | null;
  notes: string[];
}

/** A plan that breaks the whitelist comes from a planner (an external service), so it exits 1. */
export function planError(field: string, problem: string): MvmError {
  return new MvmError("external", `invalid template plan: ${field} ${problem}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Returns why a health path is refused, or undefined. */
export function healthPathProblem(p: string): string | undefined {
  if (p.length > MAX_PATH) return `must be at most ${MAX_PATH} characters`;
  if (!HEALTH_PATH_PATTERN.test(p)) return `must match ${HEALTH_PATH_PATTERN.source}, got ${show(p)}`;
  // The static HTTP service creates a file at this path under its web root, so it must stay inside it.
  if (p.split("/").some((s) => s === "." || s === ".."))
    return `must not contain "." or ".." segments, got ${show(p)}`;
  return undefined;
}

/** Returns why a Python entrypoint is refused, or undefined: a relative path that stays inside app/. */
export function entrypointProblem(p: string): string | undefined {
  const bad = `must be a relative path of [A-Za-z0-9._-] segments without "." or ".." ending in .py, got ${show(p)}`;
  if (p.length === 0 || p.length > MAX_PATH) return bad;
  const segments = p.split("/");
  for (const s of segments) if (!ENTRY_SEGMENT.test(s) || s === "." || s === "..") return bad;
  if (!p.endsWith(".py") || segments[segments.length - 1] === ".py") return bad;
  return undefined;
}

function wholeInRange(field: string, v: unknown, min: number, max: number): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw planError(field, `must be a whole number from ${min} to ${max} or null, got ${show(v)}`);
  return v;
}

function optionalString(
  field: string,
  v: unknown,
  problem: (s: string) => string | undefined,
): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") throw planError(field, `must be a string or null, got ${show(v)}`);
  const p = problem(v);
  if (p) throw planError(field, p);
  return v;
}

/**
 * Checks a plan's JSON shape and every value against the whitelist. The nullable fields may be missing
 * (treated as null), as in the original; unknown fields are refused (the schema says
 * additionalProperties: false).
 */
export function parseRawPlan(v: unknown): RawPlan {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw planError("(plan)", `must be a JSON object, got ${show(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(PLAN_KEYS as readonly string[]).includes(k)) throw planError(k, "is not a known field");
  if (o.schema_version !== PLAN_SCHEMA_VERSION)
    throw planError("schema_version", `must be ${PLAN_SCHEMA_VERSION}, got ${show(o.schema_version)}`);
  if (typeof o.summary !== "string") throw planError("summary", `must be a string, got ${show(o.summary)}`);
  if (o.summary.length > MAX_SUMMARY) throw planError("summary", `must be at most ${MAX_SUMMARY} characters`);
  if (!isPreset(o.primary_preset))
    throw planError("primary_preset", `must be one of ${PRESETS.join(", ")}, got ${show(o.primary_preset)}`);
  if (!Array.isArray(o.features)) throw planError("features", `must be an array, got ${show(o.features)}`);
  const features: Feature[] = [];
  for (const f of o.features) {
    if (!isFeature(f)) throw planError("features", `may only hold ${FEATURES.join(", ")}, got ${show(f)}`);
    if (!features.includes(f)) features.push(f);
  }
  if (!Array.isArray(o.notes)) throw planError("notes", `must be an array of strings, got ${show(o.notes)}`);
  if (o.notes.length > MAX_NOTES) throw planError("notes", `must hold at most ${MAX_NOTES} entries`);
  for (const n of o.notes)
    if (typeof n !== "string" || n.length > MAX_NOTE)
      throw planError("notes", `must hold strings of at most ${MAX_NOTE} characters, got ${show(n)}`);
  return {
    schema_version: PLAN_SCHEMA_VERSION,
    summary: o.summary,
    primary_preset: o.primary_preset,
    features,
    http_port: wholeInRange("http_port", o.http_port, HTTP_PORT_RANGE.min, HTTP_PORT_RANGE.max),
    health_path: optionalString("health_path", o.health_path, healthPathProblem),
    worker_interval_secs: wholeInRange(
      "worker_interval_secs",
      o.worker_interval_secs,
      WORKER_INTERVAL_RANGE.min,
      WORKER_INTERVAL_RANGE.max,
    ),
    python_entrypoint: optionalString("python_entrypoint", o.python_entrypoint, entrypointProblem),
    notes: o.notes as string[],
  };
}

/**
 * Turns a validated LLM plan into the plan we render, in the original mvm's steps: an explicit --preset wins,
 * otherwise the LLM's primary_preset is respected (the original always overrode it); the preset's
 * feature is added; Python replaces HTTP; missing values get the defaults.
 */
export function resolveLlmPlan(raw: RawPlan, explicitPreset: Preset | undefined): TemplatePlan {
  const primaryPreset = explicitPreset ?? raw.primary_preset;
  const features = normaliseFeatures(raw.features, primaryPreset);
  const serves = features.includes("python") || features.includes("http");
  return {
    primaryPreset,
    features,
    httpPort: serves ? (raw.http_port ?? PLAN_DEFAULTS.httpPort) : null,
    healthPath: raw.health_path ?? PLAN_DEFAULTS.healthPath,
    workerIntervalSecs: raw.worker_interval_secs,
    pythonEntrypoint: raw.python_entrypoint ?? PLAN_DEFAULTS.pythonEntrypoint,
  };
}

/** Re-checks a plan about to be rendered; a bug elsewhere must not turn into injected code. */
export function assertRenderablePlan(plan: TemplatePlan): void {
  if (!isPreset(plan.primaryPreset))
    throw planError("primary_preset", `is not a preset: ${show(plan.primaryPreset)}`);
  for (const f of plan.features) if (!isFeature(f)) throw planError("features", `holds ${show(f)}`);
  wholeInRange("http_port", plan.httpPort, HTTP_PORT_RANGE.min, HTTP_PORT_RANGE.max);
  wholeInRange(
    "worker_interval_secs",
    plan.workerIntervalSecs,
    WORKER_INTERVAL_RANGE.min,
    WORKER_INTERVAL_RANGE.max,
  );
  optionalString("health_path", plan.healthPath, healthPathProblem);
  optionalString("python_entrypoint", plan.pythonEntrypoint, entrypointProblem);
}
