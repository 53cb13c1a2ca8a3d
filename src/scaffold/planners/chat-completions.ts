import { MvmError } from "../../core/errors.js";
import type { Preset } from "../model.js";
import { PLAN_SCHEMA_NAME, planJsonSchema, SYSTEM_TEXT, userText } from "./llm-prompt.js";

// The chat-completions wire format (POST /v1/chat/completions) with a JSON-schema response format: the
// fallback for local OpenAI-compatible servers that do not implement the Responses API.

export const CHAT_PATH = "/v1/chat/completions";

export function buildChatRequest(
  model: string,
  name: string,
  explicitPreset: Preset | undefined,
  prompt: string,
): Record<string, unknown> {
  return {
    model,
    messages: [
      { role: "system", content: SYSTEM_TEXT },
      { role: "user", content: userText(name, explicitPreset, prompt) },
    ],
    response_format: {
      type: "json_schema",
      json_schema: { name: PLAN_SCHEMA_NAME, strict: true, schema: planJsonSchema() },
    },
  };
}

/** Some local models wrap JSON in a Markdown code fence even when asked for a schema; unwrap it. */
function unfence(s: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(s);
  return m?.[1] ?? s;
}

export function parseChatBody(body: string, label: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new MvmError("external", `${label}: the reply is not valid JSON`);
  }
  const choices = (doc as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices) || choices.length === 0)
    throw new MvmError("external", `${label}: the reply has no choices`);
  const message = (choices[0] as { message?: { content?: unknown; refusal?: unknown } } | null)?.message;
  if (typeof message?.refusal === "string" && message.refusal)
    throw new MvmError("external", `${label}: the model refused: ${message.refusal.slice(0, 200)}`);
  if (typeof message?.content !== "string")
    throw new MvmError("external", `${label}: the reply's first choice has no message content`);
  try {
    return JSON.parse(unfence(message.content));
  } catch {
    throw new MvmError("external", `${label}: the model's message content is not valid JSON`);
  }
}
