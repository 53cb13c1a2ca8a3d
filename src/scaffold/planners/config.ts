import { usageError } from "../../core/errors.js";
import type { Provider } from "../model.js";

// Which planner runs, from `--planner` or MVM_TEMPLATE_PROVIDER, with the original's
// environment variables. Differences from the original: an empty OPENAI_API_KEY does not count as set,
// a base URL that already ends in /v1 works, and the timeout is configurable.

export const PLANNER_CHOICES = ["auto", "heuristic", "openai", "local"] as const;
export type PlannerChoice = (typeof PLANNER_CHOICES)[number];

export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com";
export const DEFAULT_OPENAI_MODEL = "gpt-5.2";
export const DEFAULT_LOCAL_MODEL = "qwen2.5-coder-7b-instruct";
export const DEFAULT_LLM_TIMEOUT_MS = 60_000;

export interface LlmConfig {
  provider: Provider;
  /** Without a trailing "/" or "/v1": endpoints are appended as /v1/<endpoint>. */
  baseUrl: string;
  model: string;
  apiKey: string | undefined;
  timeoutMs: number;
}

export type PlannerSelection =
  | { kind: "heuristic" }
  /** `explicit`: the user asked for this provider, so its failure is fatal (no heuristic fallback). */
  | { kind: "llm"; config: LlmConfig; explicit: boolean };

type Env = Record<string, string | undefined>;

function firstSet(env: Env, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return v;
  }
  return undefined;
}

export function parsePlannerChoice(v: string, source: string): PlannerChoice {
  const c = v.trim().toLowerCase();
  if (!(PLANNER_CHOICES as readonly string[]).includes(c))
    throw usageError(
      `Unsupported ${source} ${JSON.stringify(v)}. Valid values: ${PLANNER_CHOICES.join(", ")}`,
    );
  return c as PlannerChoice;
}

/** Strips trailing slashes and one trailing "/v1", so both https://host and https://host/v1 work. */
export function normaliseBaseUrl(raw: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`invalid ${variable} ${JSON.stringify(raw)}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError(`invalid ${variable} ${JSON.stringify(raw)}: must be an http:// or https:// URL`);
  if (url.search || url.hash)
    throw usageError(`invalid ${variable} ${JSON.stringify(raw)}: must not have a query or fragment`);
  return url.href.replace(/\/+$/, "").replace(/\/v1$/, "");
}

export function llmTimeoutMs(env: Env): number {
  const raw = env.MVM_TEMPLATE_LLM_TIMEOUT_MS?.trim();
  if (!raw) return DEFAULT_LLM_TIMEOUT_MS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > 3_600_000)
    throw usageError(
      `invalid MVM_TEMPLATE_LLM_TIMEOUT_MS ${JSON.stringify(raw)}: must be milliseconds from 1 to 3600000`,
    );
  return n;
}

function openaiConfig(env: Env): LlmConfig | undefined {
  const apiKey = env.OPENAI_API_KEY?.trim();
  if (!apiKey) return undefined;
  const base = firstSet(env, "MVM_TEMPLATE_OPENAI_BASE_URL", "OPENAI_BASE_URL") ?? DEFAULT_OPENAI_BASE_URL;
  return {
    provider: "openai",
    baseUrl: normaliseBaseUrl(base, "OpenAI base URL"),
    model: firstSet(env, "MVM_TEMPLATE_OPENAI_MODEL") ?? DEFAULT_OPENAI_MODEL,
    apiKey,
    timeoutMs: llmTimeoutMs(env),
  };
}

function localConfig(env: Env): LlmConfig | undefined {
  const base = firstSet(env, "MVM_TEMPLATE_LOCAL_BASE_URL", "LOCALAI_BASE_URL");
  if (!base) return undefined;
  return {
    provider: "local",
    baseUrl: normaliseBaseUrl(base, "local base URL"),
    model: firstSet(env, "MVM_TEMPLATE_LOCAL_MODEL", "LOCALAI_MODEL") ?? DEFAULT_LOCAL_MODEL,
    apiKey: firstSet(env, "MVM_TEMPLATE_LOCAL_API_KEY", "LOCALAI_API_KEY"),
    timeoutMs: llmTimeoutMs(env),
  };
}

/** `flag` (from --planner) overrides MVM_TEMPLATE_PROVIDER; both default to auto. */
export function selectPlanner(flag: PlannerChoice | undefined, env: Env = process.env): PlannerSelection {
  const source = flag !== undefined ? "--planner" : "MVM_TEMPLATE_PROVIDER";
  const choice = flag ?? parsePlannerChoice(env.MVM_TEMPLATE_PROVIDER?.trim() || "auto", source);
  switch (choice) {
    case "heuristic":
      return { kind: "heuristic" };
    case "openai": {
      const config = openaiConfig(env);
      if (!config) throw usageError(`${source}=openai requires OPENAI_API_KEY to be set`);
      return { kind: "llm", config, explicit: true };
    }
    case "local": {
      const config = localConfig(env);
      if (!config)
        throw usageError(
          `${source}=local requires a local model base URL`,
          "Set MVM_TEMPLATE_LOCAL_BASE_URL (or LOCALAI_BASE_URL), e.g. http://127.0.0.1:11434 for Ollama.",
        );
      return { kind: "llm", config, explicit: true };
    }
    case "auto": {
      const config = openaiConfig(env) ?? localConfig(env);
      return config ? { kind: "llm", config, explicit: false } : { kind: "heuristic" };
    }
  }
}
