import { parse as parseToml } from "smol-toml";
import { MvmError } from "./errors.js";
import { keyLine, printable } from "./manifest.js";

// The settings a user can keep in config.toml instead of the environment. Each is one environment
// variable that the rest of mvmctl already reads; precedence is flag > environment > config > default.
// Secrets (API keys, S3 secret keys, registry passwords) are not settings: they stay in the
// environment or the tools' own credential files.

export interface Setting {
  /** "section.key", as written in config.toml and given to `mvmctl config`. */
  key: string;
  env: string;
  what: string;
  check?: (v: string) => string | undefined;
}

const wholeNumber = (min: number, max: number) => (v: string) =>
  /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max
    ? undefined
    : `must be a whole number from ${min} to ${max}`;
const oneOf =
  (...allowed: string[]) =>
  (v: string) =>
    allowed.includes(v) ? undefined : `must be one of ${allowed.join(", ")}`;
const url = (v: string) => (/^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(v) ? undefined : "must be a URL");

export const SETTINGS: readonly Setting[] = [
  {
    key: "registry.url",
    env: "MVM_TEMPLATE_REGISTRY",
    what: "registry: file:///dir, s3://bucket/prefix, oci://host/repo",
    check: url,
  },
  {
    key: "registry.layout",
    env: "MVM_TEMPLATE_REGISTRY_LAYOUT",
    what: "push layout",
    check: oneOf("mvm", "original"),
  },
  {
    key: "registry.retries",
    env: "MVM_REGISTRY_RETRIES",
    what: "retries of a failed transfer",
    check: wholeNumber(0, 20),
  },
  {
    key: "registry.insecure",
    env: "MVM_TEMPLATE_REGISTRY_INSECURE",
    what: "allow http registries",
    check: oneOf("0", "1"),
  },
  { key: "registry.endpoint", env: "MVM_TEMPLATE_REGISTRY_ENDPOINT", what: "S3 endpoint", check: url },
  { key: "registry.region", env: "MVM_TEMPLATE_REGISTRY_REGION", what: "S3 region" },
  {
    key: "planner.provider",
    env: "MVM_TEMPLATE_PROVIDER",
    what: "template planner",
    check: oneOf("auto", "heuristic", "openai", "local"),
  },
  {
    key: "planner.timeout_ms",
    env: "MVM_TEMPLATE_LLM_TIMEOUT_MS",
    what: "planner request limit",
    check: wholeNumber(1, 3_600_000),
  },
  {
    key: "planner.openai_base_url",
    env: "MVM_TEMPLATE_OPENAI_BASE_URL",
    what: "OpenAI-compatible API",
    check: url,
  },
  { key: "planner.openai_model", env: "MVM_TEMPLATE_OPENAI_MODEL", what: "OpenAI model" },
  {
    key: "planner.local_base_url",
    env: "MVM_TEMPLATE_LOCAL_BASE_URL",
    what: "local planner API",
    check: url,
  },
  { key: "planner.local_model", env: "MVM_TEMPLATE_LOCAL_MODEL", what: "local planner model" },
  { key: "hypervisor.qemu_bin", env: "MVM_QEMU_BIN", what: "QEMU program" },
  {
    key: "hypervisor.qemu_accel",
    env: "MVM_QEMU_ACCEL",
    what: "QEMU acceleration (skip the probe)",
    check: oneOf("kvm", "tcg"),
  },
  { key: "hypervisor.firecracker_bin", env: "MVM_FIRECRACKER_BIN", what: "Firecracker program" },
  { key: "nix.bin", env: "MVM_NIX", what: "nix program" },
  {
    key: "nix.offline",
    env: "MVM_OFFLINE",
    what: "1 forces offline builds, 0 never",
    check: oneOf("0", "1"),
  },
  {
    key: "limits.lock_timeout_ms",
    env: "MVM_LOCK_TIMEOUT_MS",
    what: "wait for another writer",
    check: wholeNumber(0, 3_600_000),
  },
];

export function settingNamed(key: string): Setting {
  const s = SETTINGS.find((x) => x.key === key);
  if (!s)
    throw new MvmError("usage", `unknown setting ${JSON.stringify(key.slice(0, 80))}`, {
      hint: "List them with 'mvmctl config list'.",
    });
  return s;
}

/** A value checked for its setting; control characters are never accepted. */
export function settingValueProblem(s: Setting, value: string): string | undefined {
  if (value === "" || value.length > 4096) return "must be 1-4096 characters";
  if (/[\u0000-\u001f\u007f]/.test(value)) return "must not contain control characters";
  return s.check?.(value);
}

/** Parses config.toml into key -> value; unknown keys and bad values name their line. */
export function parseConfigFile(file: string, text: string): Record<string, string> {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new MvmError(
      "corrupt",
      `${file} is not valid TOML: ${printable((e as Error).message.split("\n")[0] ?? "")}`,
    );
  }
  const out: Record<string, string> = {};
  const fail = (table: string, key: string, problem: string): never => {
    const line = keyLine(text, table, key);
    const name = printable(`${table ? `${table}.` : ""}${key}`, 80);
    throw new MvmError("corrupt", `${file}${line ? `:${line}` : ""}: ${name}: ${problem}`);
  };
  for (const [section, body] of Object.entries(raw)) {
    if (body === null || typeof body !== "object" || Array.isArray(body))
      fail("", section, `expected a [${section}] table`);
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      const s = SETTINGS.find((x) => x.key === `${section}.${k}`);
      if (!s) fail(section, k, "unknown setting");
      const value = typeof v === "number" || typeof v === "bigint" ? String(v) : v;
      if (typeof value !== "string") fail(section, k, "expected a string or a number");
      const p = settingValueProblem(s!, value as string);
      if (p) fail(section, k, p);
      out[`${section}.${k}`] = value as string;
    }
  }
  return out;
}
