import type { Command } from "commander";
import { MvmError, usageError } from "../../../core/errors.js";
import { canPrompt, confirm } from "../../ui/confirm.js";
import { info, printJson, success } from "../../ui/output.js";
import { stopVm, vmsOfTemplate } from "../../../vm/stop.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

function vmList(names: string[]): string {
  return `${names.length === 1 ? "VM" : `${names.length} VMs:`} ${names.join(", ")}`;
}

export function registerDelete(template: Command, ctx: CliContext): void {
  template
    .command("delete")
    .alias("rm")
    .description("Delete a template and all its revisions")
    .argument("<name>", "template name", parse.name)
    .option("-f, --force", "skip the confirmation prompt, and stop the VMs running from the template")
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
      // VMs of the template run from its revision files: they are never left behind silently.
      const inUse = await vmsOfTemplate(ctx.paths, name);
      if (inUse.length > 0 && !opts.force)
        throw new MvmError("exists", `template ${name} is in use by ${vmList(inUse)}`, {
          hint: `Stop them with 'mvmctl down <name>', or pass --force to stop them and delete ${name}.`,
        });
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
      const stopped: string[] = [];
      await store.withLock(name, async () => {
        // Again under the lock: a VM may have started since the question.
        for (const vm of await vmsOfTemplate(ctx.paths, name)) {
          if (!opts.force)
            throw new MvmError("exists", `template ${name} is in use by VM ${vm}`, {
              hint: `Stop it with 'mvmctl down ${vm}', or pass --force.`,
            });
          await stopVm(ctx.paths, vm);
          stopped.push(vm);
          if (!opts.json) info(`Stopped VM ${vm}`);
        }
        await store.delete(name);
      });
      if (opts.json) printJson({ deleted: name, stopped_vms: stopped });
      else success(`Deleted template '${name}'`);
    });
}
