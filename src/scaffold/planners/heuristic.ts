import {
  type Feature,
  normaliseFeatures,
  orderFeatures,
  PLAN_DEFAULTS,
  type PlannedTemplate,
  type Preset,
} from "../model.js";
import { assertRenderablePlan } from "../plan.js";
import { statedValues } from "./prompt-values.js";

// The built-in planner: words to features, plus the port, health path and interval the
// prompt states (prompt-values.ts). Matching is by whole word or whole phrase (a keyword, or its plural
// with a trailing "s"), so "rapid" is not "api" and "observer" is not "server"; the original matched
// substrings.

/** Keywords and phrases (words separated by single spaces) that mean each feature. */
const KEYWORDS: Record<Feature, readonly string[]> = {
  python: ["python", "fastapi", "flask", "django", "uvicorn", "gunicorn"],
  http: [
    "http",
    "https",
    "web",
    "api",
    "server",
    "website",
    "site",
    "static site",
    "static files",
    "static pages",
    "static content",
    "homepage",
    "landing page",
    "html",
    "webhook",
    "rest service",
    "rest server",
    "rest endpoint",
    "restful",
    "endpoint",
    "grpc",
    "node js",
    "nodejs",
    "express",
    "expressjs",
    "nginx",
    "httpd",
  ],
  postgres: ["postgres", "postgresql", "database", "db", "psql"],
  worker: [
    "worker",
    "queue",
    "cron",
    "crontab",
    "cronjob",
    "job",
    "poll",
    "polling",
    "poller",
    "schedule",
    "scheduled",
    "scheduler",
    "periodic",
    "periodically",
    "hourly",
    "daily",
    "nightly",
    "weekly",
    "batch",
    "consumer",
  ],
};

/** Which preset a prompt implies when several match: an app runtime beats the services it uses. */
const PRESET_PRIORITY: readonly Feature[] = ["python", "worker", "http", "postgres"];

/** Runtimes without a preset of their own: what the scaffold gives instead, said in the plan's notes. */
const STAND_INS: readonly { phrases: readonly string[]; note: (port: number) => string }[] = [
  {
    phrases: ["grpc"],
    note: (port) =>
      `gRPC has no preset: the scaffold serves plain HTTP on port ${port}; replace that service with your gRPC server and its health check with one it answers`,
  },
  {
    phrases: ["node js", "nodejs", "express", "expressjs"],
    note: (port) =>
      `Node.js has no preset: the scaffold serves static HTTP on port ${port}; add nodejs to the flake and make your server the service`,
  },
];

export const HEURISTIC_SUMMARY = "No hosted or local LLM provider configured; used built-in prompt planner.";

/** The prompt as lower-case words joined by single spaces, with a space at each end. */
function wordLine(prompt: string): string {
  return ` ${(prompt.toLowerCase().match(/[a-z0-9]+/g) ?? []).join(" ")} `;
}

/** Whether the prompt holds the keyword or phrase as whole words (a trailing "s" allowed). */
function mentions(line: string, keyword: string): boolean {
  return line.includes(` ${keyword} `) || line.includes(` ${keyword}s `);
}

/** Every feature the prompt mentions, in the fixed order python, http, postgres, worker. */
export function inferFeatures(prompt: string): Feature[] {
  const line = wordLine(prompt);
  return orderFeatures(
    (Object.keys(KEYWORDS) as Feature[]).filter((f) => KEYWORDS[f].some((k) => mentions(line, k))),
  );
}

/** The preset a feature list implies: python > worker > http > postgres, else minimal. */
function presetOf(found: readonly Feature[]): Preset {
  return PRESET_PRIORITY.find((f) => found.includes(f)) ?? "minimal";
}

/** The preset a prompt implies: python > worker > http > postgres, else minimal. */
export function inferPreset(prompt: string): Preset {
  return presetOf(inferFeatures(prompt));
}

/**
 * The heuristic plan: inferred features plus the preset's, Python replacing HTTP, the values the prompt
 * states (a stated interval means a periodic job, i.e. the worker) and defaults for the rest.
 */
export function planHeuristically(prompt: string, explicitPreset: Preset | undefined): PlannedTemplate {
  const stated = statedValues(prompt);
  const inferred = inferFeatures(prompt);
  const found = stated.intervalSecs ? orderFeatures([...inferred, "worker"]) : inferred;
  const primaryPreset = explicitPreset ?? presetOf(found);
  const httpPort = stated.port?.value ?? PLAN_DEFAULTS.httpPort;
  const line = wordLine(prompt);
  const plan = {
    primaryPreset,
    features: normaliseFeatures(found, primaryPreset),
    httpPort,
    healthPath: stated.healthPath?.value ?? PLAN_DEFAULTS.healthPath,
    workerIntervalSecs: stated.intervalSecs?.value ?? PLAN_DEFAULTS.workerIntervalSecs,
    pythonEntrypoint: PLAN_DEFAULTS.pythonEntrypoint,
  };
  // The same whitelist a model's plan passes before anything is rendered.
  assertRenderablePlan(plan);
  const notes = plan.features.includes("http")
    ? STAND_INS.filter((s) => s.phrases.some((p) => mentions(line, p))).map((s) => s.note(httpPort))
    : [];
  return {
    plan,
    origin: { mode: "heuristic", provider: null, model: null, summary: HEURISTIC_SUMMARY, notes },
  };
}
