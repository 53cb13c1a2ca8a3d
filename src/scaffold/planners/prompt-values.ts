import { usageError } from "../../core/errors.js";
import { HTTP_PORT_RANGE, healthPathProblem, WORKER_INTERVAL_RANGE } from "../plan.js";

// Values a prompt states in so many words: the HTTP port ("on port 3000", "localhost:3000",
// "a gRPC service on 50051"), the health path ("health at /healthz", "/readyz") and the worker's
// interval ("every 5 minutes", "hourly", "*/10 * * * *"). They pass the same bounds as a model's plan;
// a value outside them, or two different values for one setting, is the user's to fix (a usage error
// quoting the words), never silently replaced by a default.

export interface Stated<T> {
  value: T;
  /** The words of the prompt the value came from, for messages. */
  phrase: string;
}

export interface PromptValues {
  port?: Stated<number>;
  healthPath?: Stated<string>;
  intervalSecs?: Stated<number>;
}

/** A port right after these words belongs to that service, not to the HTTP server. */
const OTHER_SERVICE_WORDS = new Set([
  "postgres",
  "postgresql",
  "database",
  "db",
  "psql",
  "pg",
  "redis",
  "mysql",
]);

/** Words that make a nearby path a health path, or a nearby interval a health-check interval. */
const HEALTH_WORDS = new Set([
  "health",
  "healthcheck",
  "healthchecks",
  "healthz",
  "liveness",
  "readiness",
  "probe",
]);

/** First path segments that are health endpoints on their own. */
const HEALTH_SEGMENT =
  /^(?:health|healthz|healthcheck|ready|readyz|readiness|live|livez|liveness|status|ping)$/i;

const PORT_FORMS: readonly RegExp[] = [
  // "port 3000", "port: 3000", "port=3000", "port number 3000", "port of 3000", "ports 80"
  /\bports?\s*(?:number\s*)?(?:[:=#]\s*|of\s+|is\s+)?(\d+)\b/g,
  // ":3000", "localhost:3000", "0.0.0.0:8080" (not a time of day such as 10:30)
  /(?:^|[\s(])(?:localhost|0\.0\.0\.0|127\.0\.0\.1|\[::\])?:(\d+)\b/g,
  // "http://localhost:3000/healthz"
  /\bhttps?:\/\/[a-z0-9.-]+:(\d+)/g,
  // "a gRPC service on 50051", "listening at 8080 with …": a bare number after on/at ends the phrase
  /\b(?:on|at)\s+(\d{2,})\b(?=\s*(?:$|[.,;!?)]|(?:with|and|for|that|which|using|behind|serving|exposing|plus|where)\b))/g,
];

const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  week: 604800,
  weeks: 604800,
};
const UNIT = "(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?)";
const NUMBER = "(\\d+(?:\\.\\d+)?)";

const INTERVAL_FORMS: readonly { re: RegExp; secs: (m: RegExpMatchArray) => number }[] = [
  // "every 5 minutes", "every minute", "each 30s", "every 1.5 hours"
  {
    re: new RegExp(`\\b(?:every|each)\\s+(?:${NUMBER}\\s*-?\\s*)?${UNIT}\\b`, "g"),
    secs: (m) => Number(m[1] ?? 1) * (UNIT_SECONDS[m[2] as string] as number),
  },
  // "a 5-minute interval", "30 second schedule"
  {
    re: new RegExp(`\\b${NUMBER}\\s*-?\\s*${UNIT}\\s+(?:intervals?|schedule|cadence|period)\\b`, "g"),
    secs: (m) => Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number),
  },
  // "interval of 30 seconds", "interval 30s"
  {
    re: new RegExp(`\\binterval\\s+(?:of\\s+)?${NUMBER}\\s*${UNIT}\\b`, "g"),
    secs: (m) => Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number),
  },
  // "once a minute", "twice an hour", "once per day"
  {
    re: new RegExp(`\\b(once|twice)\\s+(?:a|an|per|every)\\s+${UNIT}\\b`, "g"),
    secs: (m) => (UNIT_SECONDS[m[2] as string] as number) / (m[1] === "twice" ? 2 : 1),
  },
  { re: /\bhourly\b/g, secs: () => 3600 },
  { re: /\b(?:daily|nightly)\b/g, secs: () => 86400 },
  { re: /\bweekly\b/g, secs: () => 604800 },
  // cron's minute field: "*/5 * * * *", "* * * * *", "0 * * * *"
  {
    re: /(?:^|\s)(\*\/(\d{1,2})|\*|0)\s+\*\s+\*\s+\*\s+\*(?=\s|$|[.,;])/g,
    secs: (m) => (m[2] !== undefined ? Number(m[2]) * 60 : m[1] === "*" ? 60 : 3600),
  },
];

function show(phrase: string): string {
  return JSON.stringify(phrase.trim());
}

/** The last `n` words before `index`. */
function wordsBefore(lower: string, index: number, n: number): string[] {
  return (lower.slice(0, index).match(/[a-z0-9]+/g) ?? []).slice(-n);
}

/** One value for a setting: the same value stated twice is fine, two different ones are not. */
function single<T>(found: Stated<T>[], what: string): Stated<T> | undefined {
  const distinct = [...new Map(found.map((f) => [f.value, f])).values()];
  if (distinct.length > 1)
    throw usageError(
      `the prompt states more than one ${what}: ${distinct.map((f) => show(f.phrase)).join(", ")}`,
      `A template has one ${what}: say which one.`,
    );
  return distinct[0];
}

function statedPort(lower: string): Stated<number> | undefined {
  const found: Stated<number>[] = [];
  for (const re of PORT_FORMS)
    for (const m of lower.matchAll(re)) {
      if (wordsBefore(lower, m.index ?? 0, 3).some((w) => OTHER_SERVICE_WORDS.has(w))) continue;
      const value = Number(m[1]);
      const phrase = m[0];
      if (!Number.isSafeInteger(value) || value < HTTP_PORT_RANGE.min || value > HTTP_PORT_RANGE.max)
        throw usageError(
          `the prompt names port ${m[1]} (${show(phrase)}): http_port must be a whole number from ${HTTP_PORT_RANGE.min} to ${HTTP_PORT_RANGE.max}`,
        );
      found.push({ value, phrase });
    }
  return single(found, "HTTP port");
}

function statedHealthPath(prompt: string): Stated<string> | undefined {
  const lower = prompt.toLowerCase();
  const found: Stated<string>[] = [];
  const candidates = [
    ...prompt.matchAll(/(?:^|[\s"'(=])(\/[^\s"'(),;]*)/g),
    ...prompt.matchAll(/\bhttps?:\/\/[^\s/"']+(\/[^\s"'(),;]*)/g),
  ];
  for (const m of candidates) {
    const raw = m[1] as string;
    const path = (raw.split(/[?#]/)[0] as string).replace(/[.!?:,]+$/, "");
    const at = (m.index ?? 0) + m[0].length - raw.length;
    const nearHealth = wordsBefore(lower, at, 5).some((w) => HEALTH_WORDS.has(w));
    const first = path.split("/")[1] ?? "";
    if (!nearHealth && !HEALTH_SEGMENT.test(first)) continue;
    const problem = healthPathProblem(path);
    if (problem) throw usageError(`the prompt names health path ${show(raw)}: health_path ${problem}`);
    found.push({ value: path, phrase: raw });
  }
  return single(found, "health path");
}

function statedInterval(lower: string): Stated<number> | undefined {
  const found: Stated<number>[] = [];
  for (const form of INTERVAL_FORMS)
    for (const m of lower.matchAll(form.re)) {
      // "health checks every 10 s" is about the health check, which has its own timing.
      if (wordsBefore(lower, m.index ?? 0, 4).some((w) => HEALTH_WORDS.has(w))) continue;
      const value = form.secs(m);
      const phrase = m[0];
      if (!Number.isInteger(value) || value < WORKER_INTERVAL_RANGE.min || value > WORKER_INTERVAL_RANGE.max)
        throw usageError(
          `the prompt asks for a worker interval of ${value} s (${show(phrase)}): worker_interval_secs must be a whole number from ${WORKER_INTERVAL_RANGE.min} to ${WORKER_INTERVAL_RANGE.max} (1 s to 1 hour)`,
          'State an interval of at most an hour, e.g. "every 30 minutes"; a job that runs less often can check the time itself.',
        );
      found.push({ value, phrase });
    }
  return single(found, "worker interval");
}

/** Every value the prompt states; throws a usage error for a value out of bounds or a contradiction. */
export function statedValues(prompt: string): PromptValues {
  const lower = prompt.toLowerCase();
  const port = statedPort(lower);
  const healthPath = statedHealthPath(prompt);
  const intervalSecs = statedInterval(lower);
  return {
    ...(port ? { port } : {}),
    ...(healthPath ? { healthPath } : {}),
    ...(intervalSecs ? { intervalSecs } : {}),
  };
}
