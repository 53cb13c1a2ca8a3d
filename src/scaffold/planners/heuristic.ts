import {
  type Feature,
  normaliseFeatures,
  orderFeatures,
  PLAN_DEFAULTS,
  type PlannedTemplate,
  type Preset,
} from "../model.js";

// The built-in planner (spec §7.6): keywords to features. Matching is by whole word (a keyword, or its
// plural with a trailing "s"), so "rapid" is not "api" and "webhook" is not "web"; the original matched
// substrings.

const KEYWORDS: Record<Feature, readonly string[]> = {
  python: ["python", "fastapi", "flask", "django"],
  http: ["http", "web", "api", "server"],
  postgres: ["postgres", "postgresql", "database"],
  worker: ["worker", "queue", "cron", "job", "poll"],
};

/** Which preset a prompt implies when several match: an app runtime beats the services it uses. */
const PRESET_PRIORITY: readonly Feature[] = ["python", "worker", "http", "postgres"];

export const HEURISTIC_SUMMARY = "No hosted or local LLM provider configured; used built-in prompt planner.";

function words(prompt: string): Set<string> {
  return new Set(prompt.toLowerCase().match(/[a-z0-9]+/g) ?? []);
}

function mentions(ws: Set<string>, keyword: string): boolean {
  return ws.has(keyword) || ws.has(`${keyword}s`);
}

/** Every feature the prompt mentions, in the fixed order python, http, postgres, worker. */
export function inferFeatures(prompt: string): Feature[] {
  const ws = words(prompt);
  return orderFeatures(
    (Object.keys(KEYWORDS) as Feature[]).filter((f) => KEYWORDS[f].some((k) => mentions(ws, k))),
  );
}

/** The preset a prompt implies: python > worker > http > postgres, else minimal. */
export function inferPreset(prompt: string): Preset {
  const found = inferFeatures(prompt);
  return PRESET_PRIORITY.find((f) => found.includes(f)) ?? "minimal";
}

/** The heuristic plan: inferred features plus the preset's, Python replacing HTTP, all defaults set. */
export function planHeuristically(prompt: string, explicitPreset: Preset | undefined): PlannedTemplate {
  const primaryPreset = explicitPreset ?? inferPreset(prompt);
  return {
    plan: {
      primaryPreset,
      features: normaliseFeatures(inferFeatures(prompt), primaryPreset),
      httpPort: PLAN_DEFAULTS.httpPort,
      healthPath: PLAN_DEFAULTS.healthPath,
      workerIntervalSecs: PLAN_DEFAULTS.workerIntervalSecs,
      pythonEntrypoint: PLAN_DEFAULTS.pythonEntrypoint,
    },
    origin: { mode: "heuristic", provider: null, model: null, summary: HEURISTIC_SUMMARY, notes: [] },
  };
}
