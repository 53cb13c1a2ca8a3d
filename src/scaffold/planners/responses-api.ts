import { MvmError } from "../../core/errors.js";
import type { Preset } from "../model.js";
import { PLAN_SCHEMA_NAME, planJsonSchema, SYSTEM_TEXT, userText } from "./llm-prompt.js";

// The OpenAI Responses API wire format (POST /v1/responses), as used by OpenAI and by local servers
// that implement it (Ollama, LocalAI, recent llama.cpp).

export const RESPONSES_PATH = "/v1/responses";

export function buildResponsesRequest(
  model: string,
  name: string,
  explicitPreset: Preset | undefined,
  prompt: string,
): Record<string, unknown> {
  const message = (role: string, text: string) => ({ role, content: [{ type: "input_text", text }] });
  return {
    model,
    input: [message("system", SYSTEM_TEXT), message("user", userText(name, explicitPreset, prompt))],
    text: { format: { type: "json_schema", name: PLAN_SCHEMA_NAME, strict: true, schema: planJsonSchema() } },
  };
}

function parsePlanText(text: string, where: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MvmError("external", `${label}: the model's ${where} is not valid JSON`);
  }
}

/**
 * Finds the plan in a Responses API reply: the convenience field `output_text` if present, else the
 * first `output_text` part of the `output` items. A refusal is reported as such.
 */
export function parseResponsesBody(body: string, label: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new MvmError("external", `${label}: the reply is not valid JSON`);
  }
  if (doc === null || typeof doc !== "object")
    throw new MvmError("external", `${label}: the reply is not a JSON object`);
  const d = doc as { output_text?: unknown; output?: unknown };
  if (typeof d.output_text === "string") return parsePlanText(d.output_text, "output_text", label);
  if (!Array.isArray(d.output)) throw new MvmError("external", `${label}: the reply has no output array`);
  for (const item of d.output) {
    const content = (item as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      const p = part as { type?: unknown; text?: unknown; refusal?: unknown } | null;
      if (p?.type === "output_text" && typeof p.text === "string")
        return parsePlanText(p.text, "output text", label);
      if (p?.type === "refusal")
        throw new MvmError(
          "external",
          `${label}: the model refused: ${String(p.refusal ?? "").slice(0, 200)}`,
        );
    }
  }
  throw new MvmError("external", `${label}: the reply did not include structured output text`);
}
