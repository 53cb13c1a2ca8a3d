import { messageOf } from "../../core/errors.js";
import type { PlannedTemplate, Preset } from "../model.js";
import { type PlannerChoice, selectPlanner } from "./config.js";
import { planHeuristically } from "./heuristic.js";
import { planWithLlm } from "./llm.js";

export interface PlanRequest {
  name: string;
  prompt: string;
  explicitPreset: Preset | undefined;
  /** From --planner; undefined means MVM_TEMPLATE_PROVIDER (default auto). */
  planner: PlannerChoice | undefined;
  userAgent: string;
  env?: Record<string, string | undefined>;
  /** Told before a model is asked (the call can take up to the timeout). */
  onModelCall?: (provider: string, model: string, url: string) => void;
  /** Told when auto mode falls back to the heuristic planner. */
  onWarning?: (message: string) => void;
  retryDelayMs?: number;
}

/**
 * Plans a template from a prompt. In auto mode an LLM failure (unreachable, timeout, HTTP error, bad
 * JSON, a plan that breaks the whitelist) is reported as a warning and the heuristic planner takes over;
 * a provider the user chose explicitly fails hard instead.
 */
export async function planFromPrompt(req: PlanRequest): Promise<PlannedTemplate> {
  const selection = selectPlanner(req.planner, req.env ?? process.env);
  if (selection.kind === "heuristic") return planHeuristically(req.prompt, req.explicitPreset);
  req.onModelCall?.(selection.config.provider, selection.config.model, selection.config.baseUrl);
  try {
    return await planWithLlm(selection.config, {
      name: req.name,
      prompt: req.prompt,
      explicitPreset: req.explicitPreset,
      userAgent: req.userAgent,
      ...(req.retryDelayMs === undefined ? {} : { retryDelayMs: req.retryDelayMs }),
    });
  } catch (e) {
    if (selection.explicit) throw e;
    const why = messageOf(e);
    req.onWarning?.(`${why}; falling back to the built-in planner`);
    const fallback = planHeuristically(req.prompt, req.explicitPreset);
    fallback.origin.summary = `The ${selection.config.provider} planner failed; used built-in prompt planner.`;
    fallback.origin.notes = [why, ...fallback.origin.notes];
    return fallback;
  }
}

export type { PlannerChoice } from "./config.js";
export { PLANNER_CHOICES, parsePlannerChoice } from "./config.js";
