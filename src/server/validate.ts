import { identProblem } from "../core/names.js";
import { ApiError } from "./api-error.js";

// Request bodies come from untrusted API clients: every field is typed and bounded here, and an
// unknown field is refused (a misspelt `ttl_ms` must not silently mean "no TTL").

export interface CreateVmBody {
  template: string;
  name?: string;
  cpus?: number;
  mem_mib?: number;
  ports: { host: number; guest: number }[];
  env: Record<string, string>;
  labels: Record<string, string>;
  ttl_ms?: number;
  /** A revision other than the current one, resolved by the caller from a tag (never from a body). */
  revision?: string;
}

export interface ExecBody {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  user?: string;
  stdin?: string;
  timeout_ms?: number;
}

export const LIMITS = {
  maxPorts: 16,
  maxEnv: 64,
  maxEnvValue: 32 * 1024,
  maxLabels: 32,
  maxLabelValue: 256,
  maxTtlMs: 7 * 24 * 3600 * 1000,
  minTtlMs: 1000,
  maxCpus: 64,
  minMemMib: 64,
  maxMemMib: 1024 * 1024,
  maxArgv: 1024,
  maxStdin: 256 * 1024,
};

function bad(message: string): ApiError {
  return new ApiError(400, "invalid_request", message);
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(body))
    if (!allowed.includes(k)) throw bad(`unknown field ${JSON.stringify(k.slice(0, 64))}`);
}

function int(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw bad(`${field} must be an integer from ${min} to ${max}`);
  return v;
}

function required<T>(v: T | undefined, field: string): T {
  if (v === undefined) throw bad(`${field} is required`);
  return v;
}

function str(v: unknown, field: string, max: number): string {
  if (typeof v !== "string") throw bad(`${field} must be a string`);
  if (v.length > max) throw bad(`${field} is longer than ${max} characters`);
  if (v.includes("\0")) throw bad(`${field} cannot contain NUL`);
  return v;
}

function ident(v: unknown, field: string): string {
  const s = str(v, field, 64);
  const problem = identProblem(s);
  if (problem) throw bad(`${field} ${JSON.stringify(s)} is invalid: ${problem}`);
  return s;
}

function stringMap(
  v: unknown,
  field: string,
  maxKeys: number,
  keyPattern: RegExp,
  maxValue: number,
): Record<string, string> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${field} must be an object`);
  const entries = Object.entries(v);
  if (entries.length > maxKeys) throw bad(`${field} has more than ${maxKeys} entries`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!keyPattern.test(k)) throw bad(`${field} key ${JSON.stringify(k.slice(0, 64))} is invalid`);
    out[k] = str(val, `${field}.${k}`, maxValue);
  }
  return out;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const LABEL_KEY = /^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/;

export function parseEnv(v: unknown): Record<string, string> {
  return stringMap(v, "env", LIMITS.maxEnv, ENV_KEY, LIMITS.maxEnvValue);
}

export function parseLabels(v: unknown, field = "labels"): Record<string, string> {
  return stringMap(v, field, LIMITS.maxLabels, LABEL_KEY, LIMITS.maxLabelValue);
}

export function parseTtl(v: unknown): number | undefined {
  return int(v, "ttl_ms", LIMITS.minTtlMs, LIMITS.maxTtlMs);
}

export function parseCreateVm(body: Record<string, unknown>): CreateVmBody {
  onlyFields(body, ["template", "name", "cpus", "mem_mib", "ports", "env", "labels", "ttl_ms"]);
  if (body.template === undefined) throw bad("template is required");
  const out: CreateVmBody = {
    template: ident(body.template, "template"),
    ports: [],
    env: parseEnv(body.env),
    labels: parseLabels(body.labels),
  };
  if (body.name !== undefined) out.name = ident(body.name, "name");
  const cpus = int(body.cpus, "cpus", 1, LIMITS.maxCpus);
  if (cpus !== undefined) out.cpus = cpus;
  const mem = int(body.mem_mib, "mem_mib", LIMITS.minMemMib, LIMITS.maxMemMib);
  if (mem !== undefined) out.mem_mib = mem;
  const ttl = parseTtl(body.ttl_ms);
  if (ttl !== undefined) out.ttl_ms = ttl;
  if (body.ports !== undefined) {
    if (!Array.isArray(body.ports) || body.ports.length > LIMITS.maxPorts)
      throw bad(`ports must be an array of at most ${LIMITS.maxPorts} {host, guest} objects`);
    for (const [i, p] of body.ports.entries()) {
      if (typeof p !== "object" || p === null || Array.isArray(p)) throw bad(`ports[${i}] must be an object`);
      onlyFields(p as Record<string, unknown>, ["host", "guest"]);
      const r = p as Record<string, unknown>;
      out.ports.push({
        host: required(int(r.host, `ports[${i}].host`, 1, 65535), `ports[${i}].host`),
        guest: required(int(r.guest, `ports[${i}].guest`, 1, 65535), `ports[${i}].guest`),
      });
    }
  }
  return out;
}

export function parseExec(body: Record<string, unknown>): ExecBody {
  onlyFields(body, ["argv", "env", "cwd", "user", "stdin", "timeout_ms"]);
  const argv = body.argv;
  if (!Array.isArray(argv) || argv.length === 0 || argv.length > LIMITS.maxArgv)
    throw bad(`argv must be a non-empty array of at most ${LIMITS.maxArgv} strings`);
  const out: ExecBody = {
    argv: argv.map((a, i) => str(a, `argv[${i}]`, 128 * 1024)),
    env: parseEnv(body.env),
  };
  if (!out.argv[0]) throw bad("argv[0] cannot be empty");
  if (body.cwd !== undefined) {
    out.cwd = str(body.cwd, "cwd", 4096);
    if (!out.cwd.startsWith("/")) throw bad("cwd must be an absolute guest path");
  }
  if (body.user !== undefined) out.user = str(body.user, "user", 64);
  if (body.stdin !== undefined) out.stdin = str(body.stdin, "stdin", LIMITS.maxStdin);
  const t = int(body.timeout_ms, "timeout_ms", 1, LIMITS.maxTtlMs);
  if (t !== undefined) out.timeout_ms = t;
  return out;
}

/** A guest path from a query string: absolute, bounded, no NUL. */
export function parseGuestPath(v: string | null, param = "path"): string {
  if (v === null || v === "") throw bad(`the ${param} query parameter is required`);
  const s = str(v, param, 4096);
  if (!s.startsWith("/")) throw bad(`${param} must be an absolute guest path`);
  return s;
}
