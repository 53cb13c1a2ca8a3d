import { promises as fs } from "node:fs";
import type { Command } from "commander";
import { usageError } from "../../../core/errors.js";
import { printJson, success } from "../../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export interface InitOpts {
  local?: boolean;
  vm?: boolean;
  dir: string;
  preset?: string;
  prompt?: string;
  json?: boolean;
}

/** Without --local: create the template directory layout in the data dir (spec §7.1). */
async function initLayout(ctx: CliContext, name: string, opts: InitOpts): Promise<void> {
  if (opts.prompt !== undefined) throw usageError("--prompt currently requires --local");
  const dir = ctx.paths.revisions(name);
  await fs.mkdir(dir, { recursive: true });
  if (opts.json) printJson({ name, path: ctx.paths.template(name) });
  else
    success(
      `Initialised template layout at ${ctx.paths.template(name)} (next: mvmctl template create ${name})`,
    );
}

export function registerInit(template: Command, ctx: CliContext): void {
  template
    .command("init")
    .description("Scaffold a template: a flake directory (--local) or the data-dir layout")
    .argument("<name>", "template name", parse.name)
    .option("--local", "scaffold a flake directory in --dir")
    .option("--vm", "create the data-dir layout (overrides --local)")
    .option("--dir <dir>", "parent directory for --local", ".")
    .option("--preset <preset>", "minimal|http|postgres|worker|python")
    .option("--prompt <text>", "describe the workload in words (with --local)")
    .option("--json", "print JSON")
    .action(async (name: string, opts: InitOpts) => {
      if (opts.local && !opts.vm)
        throw usageError("--local scaffolding is not available in this build of mvmctl");
      await initLayout(ctx, name, opts);
    });
}
