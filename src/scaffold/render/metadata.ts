import { specTimestamp } from "../../core/time.js";
import type { PlannedTemplate } from "../model.js";

// mvm-template-prompt.json: the original mvm's fields, in its order, every field present.

export const PROMPT_METADATA_SCHEMA_VERSION = 3;

export interface PromptMetadata {
  schema_version: number;
  template_name: string;
  prompt: string;
  generation_mode: string;
  provider: string | null;
  model: string | null;
  summary: string;
  notes: string[];
  primary_preset: string;
  inferred_features: string[];
  http_port: number | null;
  health_path: string | null;
  worker_interval_secs: number | null;
  python_entrypoint: string | null;
  created_at: string;
}

export function promptMetadata(
  name: string,
  prompt: string,
  planned: PlannedTemplate,
  now = new Date(),
): PromptMetadata {
  const { plan, origin } = planned;
  return {
    schema_version: PROMPT_METADATA_SCHEMA_VERSION,
    template_name: name,
    prompt,
    generation_mode: origin.mode,
    provider: origin.provider,
    model: origin.model,
    summary: origin.summary,
    notes: origin.notes,
    primary_preset: plan.primaryPreset,
    inferred_features: plan.features,
    http_port: plan.httpPort,
    health_path: plan.healthPath,
    worker_interval_secs: plan.workerIntervalSecs,
    python_entrypoint: plan.pythonEntrypoint,
    created_at: specTimestamp(now),
  };
}

/** Pretty JSON without a trailing newline, as the original wrote it. */
export function renderPromptMetadata(m: PromptMetadata): string {
  return JSON.stringify(m, null, 2);
}
