import { type TemplateRef, parseTemplateRef } from "../core/refs.js";
import { badRequest, notSupported } from "./errors.js";

// Bodies and query strings of E2B's REST API come from untrusted clients: every field is typed and
// bounded here. Fields E2B defines that this host cannot honour are refused with a message naming
// them (a sandbox must not silently run without the isolation or lifecycle its creator asked for).

export const E2B_LIMITS = {
  /** E2B's default when `timeout` is omitted, in seconds. */
  defaultTimeoutS: 15,
  maxTimeoutS: 7 * 24 * 3600,
  maxMetadata: 64,
  maxMetadataKey: 256,
  maxMetadataValue: 4096,
  maxEnvVars: 128,
  maxEnvValue: 32 * 1024,
  maxTemplateId: 256,
  maxListLimit: 100,
};

export interface NewSandbox {
  template: TemplateRef;
  /** The template reference as given. */
  templateText: string;
  timeoutS: number;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body))
    if (!allowed.includes(k)) throw badRequest(`unknown field ${JSON.stringify(k.slice(0, 64))}`);
}

function text(v: unknown, field: string, max: number): string {
  if (typeof v !== "string") throw badRequest(`${field} must be a string`);
  if (v.length > max) throw badRequest(`${field} is longer than ${max} characters`);
  if (v.includes("\0")) throw badRequest(`${field} cannot contain NUL`);
  return v;
}

/** Seconds from now, 0 allowed only where `min` is 0. */
export function parseTimeout(v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > E2B_LIMITS.maxTimeoutS)
    throw badRequest(`timeout must be a whole number of seconds from ${min} to ${E2B_LIMITS.maxTimeoutS}`);
  return v;
}

function metadataMap(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw badRequest("metadata must be an object of strings");
  const entries = Object.entries(v);
  if (entries.length > E2B_LIMITS.maxMetadata)
    throw badRequest(`metadata has more than ${E2B_LIMITS.maxMetadata} entries`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (k.length === 0 || k.length > E2B_LIMITS.maxMetadataKey || k.includes("\0"))
      throw badRequest(`metadata keys must be 1 to ${E2B_LIMITS.maxMetadataKey} characters`);
    out[k] = text(val, `metadata value of ${JSON.stringify(k.slice(0, 64))}`, E2B_LIMITS.maxMetadataValue);
  }
  return out;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function envVarsMap(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw badRequest("envVars must be an object of strings");
  const entries = Object.entries(v);
  if (entries.length > E2B_LIMITS.maxEnvVars)
    throw badRequest(`envVars has more than ${E2B_LIMITS.maxEnvVars} entries`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!ENV_KEY.test(k))
      throw badRequest(`envVars name ${JSON.stringify(k.slice(0, 64))} is not a valid variable name`);
    out[k] = text(val, `envVars.${k}`, E2B_LIMITS.maxEnvValue);
  }
  return out;
}

/** The template id of a create request: an mvmctl template name, `name:tag` or `name@sha256:…`. */
function templateRef(v: unknown): { ref: TemplateRef; text: string } {
  if (v === undefined) throw badRequest("templateID is required");
  const t = text(v, "templateID", E2B_LIMITS.maxTemplateId);
  try {
    return { ref: parseTemplateRef(t), text: t };
  } catch (e) {
    throw badRequest((e as Error).message);
  }
}

/** Empty, null, false or an empty object: an optional feature left off. */
function unset(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (isObject(v) && Object.keys(v).length === 0)
  );
}

export function parseNewSandbox(body: Record<string, unknown>): NewSandbox {
  onlyFields(body, [
    "templateID",
    "timeout",
    "autoPause",
    "autoPauseMemory",
    "autoResume",
    "secure",
    "allow_internet_access",
    "network",
    "metadata",
    "envVars",
    "mcp",
    "iam",
    "volumeMounts",
  ]);
  const { ref, text: templateText } = templateRef(body.templateID);
  if (body.autoPause === true) throw notSupported("autoPause (pausing a sandbox on timeout)");
  if (isObject(body.autoResume) && body.autoResume.enabled === true) throw notSupported("autoResume");
  if (body.allow_internet_access === false)
    throw notSupported("allow_internet_access=false (cutting a sandbox off the network)");
  if (!unset(body.network)) throw notSupported("network (egress rules and proxies)");
  if (!unset(body.mcp)) throw notSupported("mcp (the MCP gateway)");
  if (!unset(body.iam)) throw notSupported("iam (workload identity tokens)");
  if (!unset(body.volumeMounts)) throw notSupported("volumeMounts");
  for (const f of ["autoPause", "autoPauseMemory", "secure", "allow_internet_access"] as const)
    if (body[f] !== undefined && body[f] !== null && typeof body[f] !== "boolean")
      throw badRequest(`${f} must be a boolean`);
  return {
    template: ref,
    templateText,
    timeoutS: body.timeout === undefined ? E2B_LIMITS.defaultTimeoutS : parseTimeout(body.timeout, 1),
    metadata: metadataMap(body.metadata),
    envVars: envVarsMap(body.envVars),
  };
}

/** `{timeout}` of POST /sandboxes/{id}/timeout (0 ends the sandbox now). */
export function parseTimeoutBody(body: Record<string, unknown>): number {
  onlyFields(body, ["timeout"]);
  if (body.timeout === undefined) throw badRequest("timeout is required");
  return parseTimeout(body.timeout, 0);
}

/** `{timeout?, memory?}` of POST /sandboxes/{id}/connect: the timeout only ever extends the TTL. */
export function parseConnectBody(body: Record<string, unknown>): number | undefined {
  onlyFields(body, ["timeout", "memory", "autoPause"]);
  if (body.memory !== undefined && typeof body.memory !== "boolean")
    throw badRequest("memory must be a boolean");
  return body.timeout === undefined ? undefined : parseTimeout(body.timeout, 0);
}

export interface ListQuery {
  metadata: Record<string, string>;
  states: Set<"running" | "paused">;
  order: "asc" | "desc";
  startedAfter?: number;
  template?: string;
  limit: number;
  nextToken?: string;
}

/**
 * `metadata=k%3Dv%26k2%3Dv2`: a query string of its own whose keys and values are URL-encoded once
 * more (the SDK encodes each pair, then the pair list, then the query parameter).
 */
function metadataQuery(v: string | null): Record<string, string> {
  if (v === null || v === "") return {};
  if (v.length > 16 * 1024) throw badRequest("the metadata filter is too long");
  const out: Record<string, string> = {};
  for (const [k, val] of new URLSearchParams(v)) {
    try {
      out[decodeURIComponent(k)] = decodeURIComponent(val);
    } catch {
      throw badRequest("the metadata filter is not valid URL encoding");
    }
  }
  return out;
}

export function parseListQuery(q: URLSearchParams, paginated: boolean): ListQuery {
  const out: ListQuery = {
    metadata: metadataQuery(q.get("metadata")),
    states: new Set(["running", "paused"]),
    order: "desc",
    limit: paginated ? E2B_LIMITS.maxListLimit : Number.MAX_SAFE_INTEGER,
  };
  const state = q.getAll("state").flatMap((s) => s.split(","));
  if (state.length > 0) {
    out.states = new Set();
    for (const s of state) {
      if (s !== "running" && s !== "paused")
        throw badRequest(`state ${JSON.stringify(s.slice(0, 32))} is not one of running, paused`);
      out.states.add(s);
    }
  }
  const order = q.get("order");
  if (order !== null) {
    if (order !== "asc" && order !== "desc") throw badRequest("order must be asc or desc");
    out.order = order;
  }
  const after = q.get("startedAfter");
  if (after !== null) {
    const t = Date.parse(after);
    if (Number.isNaN(t)) throw badRequest("startedAfter must be an RFC 3339 date-time");
    out.startedAfter = t;
  }
  const template = q.get("template");
  if (template) out.template = text(template, "template", E2B_LIMITS.maxTemplateId);
  const limit = q.get("limit");
  if (limit !== null) {
    const n = Number(limit);
    if (!/^\d{1,4}$/.test(limit) || n < 1 || n > E2B_LIMITS.maxListLimit)
      throw badRequest(`limit must be a whole number from 1 to ${E2B_LIMITS.maxListLimit}`);
    out.limit = n;
  }
  const token = q.get("nextToken");
  if (token) out.nextToken = text(token, "nextToken", 512);
  return out;
}
