import { FEATURES, type Preset, PRESETS } from "../model.js";
import { PLAN_SCHEMA_VERSION } from "../plan.js";

// What we ask a model: the original's system and user text and its strict JSON schema,
// shared by the Responses API and the chat-completions fallback. The schema narrows health_path and
// python_entrypoint with patterns too, but plan.ts re-checks everything: a schema is a request, not a
// guarantee, and a local server may ignore it.

export const PLAN_SCHEMA_NAME = "mvm_template_plan";

export const SYSTEM_TEXT =
  "You generate safe microVM scaffold plans for mvmctl. Output only schema-compliant JSON. Keep plans " +
  "constrained to supported presets and features. Never emit secrets, host paths, shell substitutions, " +
  "or arbitrary package names.";

export function userText(name: string, explicitPreset: Preset | undefined, prompt: string): string {
  return (
    `Template name: ${name}\nExplicit preset override: ${explicitPreset ?? "none"}\nPrompt: ${prompt}\n\n` +
    "Choose primary_preset from minimal/http/postgres/worker/python. Features may include " +
    "python/http/postgres/worker. Use only safe defaults: port 8080 unless the workload strongly implies " +
    "another HTTP port, health_path should start with '/', worker_interval_secs should be 1-3600, " +
    "python_entrypoint should be a relative file path like main.py. Prefer python over plain http when " +
    "the prompt is Python-specific. Prefer app/runtime presets over backing services."
  );
}

/**
 * The plan schema, kept to the subset every structured-output implementation accepts (OpenAI strict
 * mode, llama.cpp grammars, Ollama): all fields required, nullable as a type list, no numeric or
 * length keywords. Limits are stated in descriptions for the model and enforced by plan.ts.
 */
export function planJsonSchema(): Record<string, unknown> {
  return {
    type: "object",
    additionalProperties: false,
    required: [
      "schema_version",
      "summary",
      "primary_preset",
      "features",
      "http_port",
      "health_path",
      "worker_interval_secs",
      "python_entrypoint",
      "notes",
    ],
    properties: {
      schema_version: { type: "integer", enum: [PLAN_SCHEMA_VERSION] },
      summary: { type: "string", description: "One or two sentences describing the workload." },
      primary_preset: { type: "string", enum: [...PRESETS] },
      features: {
        type: "array",
        items: { type: "string", enum: [...FEATURES] },
        description: "Each feature at most once.",
      },
      http_port: { type: ["integer", "null"], description: "TCP port 1-65535 of the HTTP service, or null." },
      health_path: {
        type: ["string", "null"],
        description:
          "HTTP path for the health check: starts with / and uses only letters, digits and . _ ~ / -",
      },
      worker_interval_secs: {
        type: ["integer", "null"],
        description: "Seconds between worker runs, 1-3600.",
      },
      python_entrypoint: {
        type: ["string", "null"],
        description: "Relative path of the Python entry file inside app/, e.g. main.py.",
      },
      notes: { type: "array", items: { type: "string" } },
    },
  };
}
