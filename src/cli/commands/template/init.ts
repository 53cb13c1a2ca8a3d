import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { MvmError, usageError } from "../../../core/errors.js";
import { ensureKit } from "../../../kit/index.js";
import { parseManifest } from "../../../kit/manifest.js";
import { isPreset, type PlannedTemplate, type Preset, PRESETS } from "../../../scaffold/model.js";
import { PLANNER_CHOICES, type PlannerChoice, parsePlannerChoice } from "../../../scaffold/planners/index.js";
import { type KitInfo, planScaffold, scaffold } from "../../../scaffold/scaffold.js";
import type { DataPaths } from "../../../store/paths.js";
import { info, printJson, printLine, success, warn } from "../../ui/output.js";
import { sanitize } from "../../ui/sanitize.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";
import { VERSION } from "../../version.js";

export interface InitOpts {
  local?: boolean;
  vm?: boolean;
  dir: string;
  preset?: Preset;
  prompt?: string;
  offline?: boolean;
  force?: boolean;
  planOnly?: boolean;
  planner?: PlannerChoice;
  json?: boolean;
}

/** Without --local: create the template directory layout in the data dir. */
async function initLayout(ctx: CliContext, name: string, opts: InitOpts): Promise<void> {
  if (opts.prompt !== undefined) throw usageError("--prompt currently requires --local");
  for (const [flag, set] of [
    ["--offline", opts.offline],
    ["--plan-only", opts.planOnly],
    ["--planner", opts.planner !== undefined],
  ] as const)
    if (set) throw usageError(`${flag} requires --local`);
  const dir = ctx.paths.revisions(name);
  await fs.mkdir(dir, { recursive: true });
  if (opts.json) printJson({ name, path: ctx.paths.template(name) });
  else
    success(
      `Initialised template layout at ${ctx.paths.template(name)} (next: mvmctl template create ${name})`,
    );
}

function parsePreset(v: string): Preset {
  if (!isPreset(v))
    throw usageError(`Unknown preset ${JSON.stringify(v)}. Valid presets: ${PRESETS.join(", ")}`);
  return v;
}

/**
 * The offline guest kit (a content-addressed dir under <data>/kit), built on demand by the kit module:
 * the flake is written for its system. The flake does not name the kit's directory; the build does.
 */
async function offlineKit(paths: DataPaths, quiet: boolean): Promise<KitInfo> {
  if (!quiet) info("Preparing the offline guest kit...");
  const kit = await ensureKit(paths, quiet ? {} : { onProgress: (m) => info(`kit: ${m}`) });
  // The kit says which system its kernel and busybox are for; the flake must build for that one.
  const manifest = parseManifest(await fs.readFile(join(kit.dir, "kit.json"), "utf8"));
  if (!manifest) throw new MvmError("corrupt", `the guest kit at ${kit.dir} has no valid kit.json`);
  return { system: manifest.system };
}

function planJson(name: string, p: PlannedTemplate, prompt: string | undefined) {
  return {
    template_name: name,
    prompt: prompt ?? null,
    generation_mode: p.origin.mode,
    provider: p.origin.provider,
    model: p.origin.model,
    summary: p.origin.summary,
    notes: p.origin.notes,
    primary_preset: p.plan.primaryPreset,
    inferred_features: p.plan.features,
    http_port: p.plan.httpPort,
    health_path: p.plan.healthPath,
    worker_interval_secs: p.plan.workerIntervalSecs,
    python_entrypoint: p.plan.pythonEntrypoint,
  };
}

function printPlan(name: string, p: PlannedTemplate): void {
  const { plan, origin } = p;
  const by = origin.mode === "llm" ? `${origin.provider} (${origin.model})` : origin.mode;
  printLine(`Plan for ${name} (${by}):`);
  printLine(`  preset:    ${plan.primaryPreset}`);
  printLine(`  features:  ${plan.features.join(", ") || "(none)"}`);
  if (plan.httpPort !== null) printLine(`  http port: ${plan.httpPort}`);
  if (plan.healthPath !== null) printLine(`  health:    ${plan.healthPath}`);
  if (plan.workerIntervalSecs !== null) printLine(`  interval:  ${plan.workerIntervalSecs}s`);
  if (plan.pythonEntrypoint !== null) printLine(`  entry:     ${plan.pythonEntrypoint}`);
  // The summary and notes are the planner's own words.
  printLine(`  summary:   ${sanitize(JSON.stringify(origin.summary))}`);
  for (const n of origin.notes) printLine(`  note:      ${sanitize(JSON.stringify(n))}`);
}

/** With --local: write a flake directory <dir>/<name> from a preset or a prompt. */
async function initLocal(ctx: CliContext, name: string, opts: InitOpts): Promise<void> {
  const common = {
    name,
    ...(opts.preset === undefined ? {} : { preset: opts.preset }),
    ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
    ...(opts.planner === undefined ? {} : { planner: opts.planner }),
    offline: Boolean(opts.offline),
    userAgent: `mvmctl/${VERSION}`,
    onWarning: warn,
    onModelCall: (provider: string, model: string, url: string) => {
      if (!opts.json) info(`Planning with ${provider} model ${model} at ${url}...`);
    },
  };
  if (opts.planner !== undefined && opts.prompt === undefined)
    throw usageError("--planner needs --prompt (presets are not planned)");
  if (opts.planOnly) {
    const planned = await planScaffold(common);
    if (opts.json) printJson(planJson(name, planned, opts.prompt));
    else printPlan(name, planned);
    return;
  }
  const result = await scaffold({
    ...common,
    parentDir: resolve(opts.dir),
    force: Boolean(opts.force),
    version: VERSION,
    kit: () => offlineKit(ctx.paths, Boolean(opts.json)),
  });
  if (opts.json) {
    printJson({
      name,
      dir: result.dir,
      offline: result.target === "offline",
      plan: planJson(name, result.planned, opts.prompt),
      files: result.files,
    });
    return;
  }
  for (const f of result.files) printLine(`${f.status.padEnd(11)} ${f.path}`);
  if (result.files.every((f) => f.status === "kept"))
    info(`Every file already exists in ${result.dir}; nothing written (--force overwrites)`);
  else
    success(
      `Scaffolded ${result.planned.plan.primaryPreset} template at ${result.dir} ` +
        `(next: edit ${join(result.dir, "mvm.toml")}, then 'cd ${result.dir} && mvmctl build')`,
    );
}

export function registerInit(template: Command, ctx: CliContext): void {
  template
    .command("init")
    .description("Scaffold a template: a flake directory (--local) or the data-dir layout")
    .argument("<name>", "template name", parse.name)
    .option("--local", "scaffold a flake directory <dir>/<name>")
    .option("--vm", "create the data-dir layout (overrides --local)")
    .option("--dir <dir>", "parent directory for --local", ".")
    .option("--preset <preset>", `what the guest runs: ${PRESETS.join("|")} (default minimal)`, parsePreset)
    .option("--prompt <text>", "describe the workload in words; a planner picks preset and settings")
    .option(
      "--offline",
      "only local inputs (the mvm library and the offline guest kit): builds with no network",
    )
    .option("--force", "overwrite files that already exist (they are kept otherwise)")
    .option("--plan-only", "print the validated plan and write nothing")
    .option(
      "--planner <planner>",
      `${PLANNER_CHOICES.join("|")} (overrides MVM_TEMPLATE_PROVIDER)`,
      (v: string) => parsePlannerChoice(v, "--planner"),
    )
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nPlanners: openai needs OPENAI_API_KEY (MVM_TEMPLATE_OPENAI_BASE_URL, MVM_TEMPLATE_OPENAI_MODEL);\n" +
        "local needs MVM_TEMPLATE_LOCAL_BASE_URL (MVM_TEMPLATE_LOCAL_MODEL, MVM_TEMPLATE_LOCAL_API_KEY);\n" +
        "auto uses whichever is configured, else the built-in heuristic, and falls back to it on failure.\n" +
        "MVM_TEMPLATE_LLM_TIMEOUT_MS bounds each request (default 60000).\n\n" +
        "Examples:\n" +
        "  mvmctl template init web --local --preset http\n" +
        '  mvmctl template init api --local --prompt "FastAPI service with Postgres" --plan-only\n' +
        "  mvmctl template init demo --local --offline --preset worker   # builds with no network",
    )
    .action(async (name: string, opts: InitOpts) => {
      if (opts.local && !opts.vm) await initLocal(ctx, name, opts);
      else await initLayout(ctx, name, opts);
    });
}
