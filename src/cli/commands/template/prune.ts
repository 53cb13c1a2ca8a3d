import type { Command } from "commander";
import { pruneTemplate } from "../../../builder/prune.js";
import { formatBytes } from "../../../core/sizes.js";
import { printJson, printLine, success } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerPrune(template: Command, ctx: CliContext): void {
  template
    .command("prune")
    .description("Remove a template's old revisions (never the current one, never one a VM uses)")
    .argument("<name>", "template name", parse.name)
    .option("--keep <n>", "also keep the N newest other revisions", parse.wholeNumber("--keep", 0, 1000), 0)
    .option("--dry-run", "show what would be removed, remove nothing")
    .option("--json", "print the result as JSON")
    .action(async (name: string, opts: { keep: number; dryRun?: boolean; json?: boolean }) => {
      const r = await pruneTemplate(ctx.store, name, { keep: opts.keep, dryRun: Boolean(opts.dryRun) });
      if (opts.json) {
        printJson(r);
        return;
      }
      const verb = r.dry_run ? "Would remove" : "Removed";
      for (const e of r.removed)
        printLine(`${verb} ${e.rev.slice(0, 12)}  built ${e.built_at ?? "?"}  ${formatBytes(e.freed_bytes)}`);
      for (const k of r.kept)
        printLine(`Kept    ${k.rev.slice(0, 12)}  (${k.reason}${k.vms ? `: ${k.vms.join(", ")}` : ""})`);
      success(
        `${r.dry_run ? "Would free" : "Freed"} ${formatBytes(r.freed_bytes)} (${r.removed.length} revision${r.removed.length === 1 ? "" : "s"})`,
      );
    });
}
