import { join } from "node:path";
import { usageError } from "../core/errors.js";
import { MANIFEST_DEFAULTS, MANIFEST_FILE, renderManifest } from "../core/manifest.js";
import { type FileOutcome, type ScaffoldFile, writeScaffold } from "./files.js";
import { type PlannedTemplate, type Preset, presetPlan } from "./model.js";
import { type PlannerChoice, planFromPrompt } from "./planners/index.js";
import { type FlakeInputs, type NixSystem, renderFlake } from "./render/flake.js";
import { promptMetadata, renderPromptMetadata } from "./render/metadata.js";
import { renderPythonApp } from "./render/python-app.js";
import { renderReadme } from "./render/readme.js";
import { offlineProblem, type Target } from "./render/workloads.js";

// `template init --local`: plan (preset or prompt), check, render every file in memory, then write them
// all-or-nothing. Everything that can fail on user or planner input fails before the first write.

export const GITIGNORE = "result*\nartifacts/\n";
export const PROMPT_METADATA_FILE = "mvm-template-prompt.json";
/** A description of a workload, not a document: keeps requests to a model small and bounded. */
export const MAX_PROMPT = 8000;

export interface KitInfo {
  system: NixSystem;
}

export interface PlanOptions {
  name: string;
  preset?: Preset;
  prompt?: string;
  offline: boolean;
  planner?: PlannerChoice;
  userAgent: string;
  env?: Record<string, string | undefined>;
  onWarning?: (message: string) => void;
  onModelCall?: (provider: string, model: string, url: string) => void;
  retryDelayMs?: number;
}

export interface ScaffoldOptions extends PlanOptions {
  /** The directory the scaffold goes into (`--dir`); files are written to <parentDir>/<name>. */
  parentDir: string;
  force: boolean;
  /** The mvmctl version writing the scaffold: its flake names that release's Nix library. */
  version: string;
  /** Offline only: finds or builds the guest kit (called after planning, so bad input costs nothing). */
  kit?: () => Promise<KitInfo>;
  now?: Date;
}

export interface ScaffoldResult {
  dir: string;
  planned: PlannedTemplate;
  target: Target;
  files: FileOutcome[];
}

/** The plan for a preset or a prompt; offline plans are checked against what the kit can serve. */
export async function planScaffold(opts: PlanOptions): Promise<PlannedTemplate> {
  let planned: PlannedTemplate;
  if (opts.prompt === undefined) {
    const preset = opts.preset ?? "minimal";
    planned = {
      plan: presetPlan(preset),
      origin: { mode: "preset", provider: null, model: null, summary: `The ${preset} preset.`, notes: [] },
    };
  } else {
    if (opts.prompt.trim() === "") throw usageError("--prompt must not be empty");
    if (opts.prompt.length > MAX_PROMPT)
      throw usageError(
        `--prompt is ${opts.prompt.length} characters; at most ${MAX_PROMPT} are sent to a planner`,
      );
    planned = await planFromPrompt({
      name: opts.name,
      prompt: opts.prompt,
      explicitPreset: opts.preset,
      planner: opts.planner,
      userAgent: opts.userAgent,
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.onWarning === undefined ? {} : { onWarning: opts.onWarning }),
      ...(opts.onModelCall === undefined ? {} : { onModelCall: opts.onModelCall }),
      ...(opts.retryDelayMs === undefined ? {} : { retryDelayMs: opts.retryDelayMs }),
    });
  }
  if (opts.offline) {
    const problem = offlineProblem(planned.plan);
    if (problem) throw usageError(problem);
  }
  return planned;
}

/** Every file of the scaffold, in the order they are written (the original mvm's order). */
export function renderScaffold(
  name: string,
  planned: PlannedTemplate,
  prompt: string | undefined,
  target: Target,
  inputs: FlakeInputs,
  now = new Date(),
): ScaffoldFile[] {
  const { plan, origin } = planned;
  const files: ScaffoldFile[] = [
    { path: ".gitignore", content: GITIGNORE },
    { path: "flake.nix", content: renderFlake({ name, plan, origin, target, inputs }) },
    { path: "README.md", content: renderReadme(name, plan, origin, target) },
    { path: MANIFEST_FILE, content: renderManifest({ name, ...MANIFEST_DEFAULTS }) },
  ];
  // The original created app/ only in prompt mode, so its python preset referenced a missing directory.
  if (plan.features.includes("python"))
    files.push({ path: `app/${plan.pythonEntrypoint ?? "main.py"}`, content: renderPythonApp(plan) });
  if (prompt !== undefined)
    files.push({
      path: PROMPT_METADATA_FILE,
      content: renderPromptMetadata(promptMetadata(name, prompt, planned, now)),
    });
  return files;
}

export async function scaffold(opts: ScaffoldOptions): Promise<ScaffoldResult> {
  const planned = await planScaffold(opts);
  const target: Target = opts.offline ? "offline" : "nixpkgs";
  const inputs: FlakeInputs = { version: opts.version };
  if (opts.offline) {
    if (!opts.kit) throw new Error("offline scaffolding needs a kit provider");
    inputs.system = (await opts.kit()).system;
  }
  const files = renderScaffold(opts.name, planned, opts.prompt, target, inputs, opts.now);
  const dir = join(opts.parentDir, opts.name);
  const outcomes = await writeScaffold(dir, files, { force: opts.force });
  return { dir, planned, target, files: outcomes };
}
