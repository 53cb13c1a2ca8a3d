// The vocabulary of scaffolding: presets (what `--preset` names), features (what a workload needs) and
// the plan that every planner produces and every renderer consumes. Pure data, no I/O.

export const PRESETS = ["minimal", "http", "postgres", "worker", "python"] as const;
export type Preset = (typeof PRESETS)[number];

/** Fixed order used wherever features are listed, as in the original mvm. */
export const FEATURES = ["python", "http", "postgres", "worker"] as const;
export type Feature = (typeof FEATURES)[number];

export function isPreset(v: unknown): v is Preset {
  return typeof v === "string" && (PRESETS as readonly string[]).includes(v);
}

export function isFeature(v: unknown): v is Feature {
  return typeof v === "string" && (FEATURES as readonly string[]).includes(v);
}

/** The feature a preset stands for; minimal stands for none. */
export function featureForPreset(preset: Preset): Feature | undefined {
  return preset === "minimal" ? undefined : preset;
}

/** Defaults shared by every planner (spec Appendix B). */
export const PLAN_DEFAULTS = {
  httpPort: 8080,
  healthPath: "/",
  workerIntervalSecs: 10,
  pythonEntrypoint: "main.py",
} as const;

/**
 * A validated plan. Every value in here has passed the whitelist in plan.ts, so renderers may rely on
 * its shape; they still escape everything they place in Nix or shell text.
 */
export interface TemplatePlan {
  primaryPreset: Preset;
  features: Feature[];
  httpPort: number | null;
  healthPath: string | null;
  workerIntervalSecs: number | null;
  pythonEntrypoint: string | null;
}

export type GenerationMode = "llm" | "heuristic" | "preset";
export type Provider = "openai" | "local";

/** Where a plan came from. `summary` and `notes` are data only: never placed in Nix or shell code. */
export interface PlanOrigin {
  mode: GenerationMode;
  provider: Provider | null;
  model: string | null;
  summary: string;
  notes: string[];
}

export interface PlannedTemplate {
  plan: TemplatePlan;
  origin: PlanOrigin;
}

/** Sorts and de-duplicates features into the fixed order. */
export function orderFeatures(features: Iterable<Feature>): Feature[] {
  const set = new Set(features);
  return FEATURES.filter((f) => set.has(f));
}

/**
 * The rules every plan obeys after planning: the primary preset's feature is present,
 * and Python replaces plain HTTP (the Python service is the HTTP server).
 */
export function normaliseFeatures(features: Iterable<Feature>, primary: Preset): Feature[] {
  const set = new Set(features);
  const own = featureForPreset(primary);
  if (own) set.add(own);
  if (set.has("python")) set.delete("http");
  return orderFeatures(set);
}

/** A preset on its own (no prompt): its feature and every default. */
export function presetPlan(preset: Preset): TemplatePlan {
  return {
    primaryPreset: preset,
    features: normaliseFeatures([], preset),
    httpPort: PLAN_DEFAULTS.httpPort,
    healthPath: PLAN_DEFAULTS.healthPath,
    workerIntervalSecs: PLAN_DEFAULTS.workerIntervalSecs,
    pythonEntrypoint: PLAN_DEFAULTS.pythonEntrypoint,
  };
}
