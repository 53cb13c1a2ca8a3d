import type { Command } from "commander";
import { MvmError, usageError } from "../../../core/errors.js";
import { canPrompt, confirm } from "../../../ui/confirm.js";
import { printJson, success } from "../../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerDelete(template: Command, ctx: CliContext): void {
  template
    .command("delete")
    .alias("rm")
    .description("Delete a template and all its revisions")
    .argument("<name>", "template name", parse.name)
    .option("-f, --force", "skip the confirmation prompt")
    .option("-y, --yes", "skip the confirmation prompt")
    .option("--json", "print JSON")
    .action(async (name: string, opts: { force?: boolean; yes?: boolean; json?: boolean }) => {
      const store = ctx.store;
      const dirExists = await store.exists(name);
      if (!dirExists) {
        const { broken } = await store.list();
        if (!broken.some((b) => b.name === name))
          throw new MvmError("not_found", `template ${name} does not exist`, {
            hint: "List available templates with 'mvmctl template list'.",
          });
      }
      if (!opts.force && !opts.yes) {
        if (!canPrompt())
          throw usageError(
            `refusing to delete template ${name} without confirmation`,
            "Pass --force (or -y).",
          );
        const revs = await store.listRevisions(name);
        if (!(await confirm(`Delete template '${name}' and its ${revs.length} revision(s)?`))) {
          throw new MvmError("usage", "deletion cancelled");
        }
      }
      await store.withLock(name, () => store.delete(name));
      if (opts.json) printJson({ deleted: name });
      else success(`Deleted template '${name}'`);
    });
}
