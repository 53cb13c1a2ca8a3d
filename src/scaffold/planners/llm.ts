import type { PlannedTemplate, Preset } from "../model.js";
import { parseRawPlan, resolveLlmPlan } from "../plan.js";
import { buildChatRequest, CHAT_PATH, parseChatBody } from "./chat-completions.js";
import type { LlmConfig } from "./config.js";
import { httpStatusError, postJson } from "./http.js";
import { buildResponsesRequest, parseResponsesBody, RESPONSES_PATH } from "./responses-api.js";

// An LLM planner: OpenAI through the Responses API; a local OpenAI-compatible server through the
// Responses API, falling back to chat completions when the server does not have that endpoint.

export interface LlmRequest {
  name: string;
  prompt: string;
  explicitPreset: Preset | undefined;
  userAgent: string;
  /** Pause before the single retry on 429/5xx (tests shorten it). */
  retryDelayMs?: number;
}

/** Statuses with which a server says "no such endpoint" (llama.cpp: 404; some proxies: 405/501). */
const ENDPOINT_MISSING = new Set([404, 405, 501]);

function headers(config: LlmConfig, userAgent: string): Record<string, string> {
  const h: Record<string, string> = {
    Accept: "application/json",
    "Content-Type": "application/json",
    "User-Agent": userAgent,
  };
  if (config.apiKey) h.Authorization = `Bearer ${config.apiKey}`;
  return h;
}

async function fetchPlanJson(config: LlmConfig, req: LlmRequest): Promise<unknown> {
  const label = `${config.provider} template planning`;
  const opts = {
    headers: headers(config, req.userAgent),
    timeoutMs: config.timeoutMs,
    label,
    ...(req.retryDelayMs === undefined ? {} : { retryDelayMs: req.retryDelayMs }),
  };
  const reply = await postJson(
    config.baseUrl + RESPONSES_PATH,
    buildResponsesRequest(config.model, req.name, req.explicitPreset, req.prompt),
    opts,
  );
  if (reply.status >= 200 && reply.status < 300) return parseResponsesBody(reply.body, label);
  if (config.provider === "local" && ENDPOINT_MISSING.has(reply.status)) {
    const chat = await postJson(
      config.baseUrl + CHAT_PATH,
      buildChatRequest(config.model, req.name, req.explicitPreset, req.prompt),
      opts,
    );
    if (chat.status >= 200 && chat.status < 300) return parseChatBody(chat.body, label);
    throw httpStatusError(label, chat);
  }
  throw httpStatusError(label, reply);
}

export async function planWithLlm(config: LlmConfig, req: LlmRequest): Promise<PlannedTemplate> {
  const raw = parseRawPlan(await fetchPlanJson(config, req));
  return {
    plan: resolveLlmPlan(raw, req.explicitPreset),
    origin: {
      mode: "llm",
      provider: config.provider,
      model: config.model,
      summary: raw.summary,
      notes: raw.notes,
    },
  };
}
