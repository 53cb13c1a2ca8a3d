import type { Command } from "commander";
import { MvmError } from "../../core/errors.js";
import { validateIdent } from "../../core/names.js";
import { consolePrinter } from "../ui/sanitize.js";
import { followConsoleLog, readConsoleLog } from "../../hypervisor/keeper/console-log.js";
import { readVmRecord } from "../../vm/records.js";
import type { CliContext } from "../context.js";

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .description("Print a VM's console output")
    .argument("<name>", "VM name (see 'mvmctl ls')")
    .option("-f, --follow", "keep printing new output until the VM stops (or Ctrl-C)")
    .option("--raw", "print the console's bytes as they are (escape sequences and all)")
    .addHelpText(
      "after",
      "\nThe console is the guest's output: control characters and escape sequences are shown escaped\n(ESC as \\x1b) and very long lines are cut, unless --raw is given. The log keeps the most recent\noutput (MVM_CONSOLE_LOG_MAX_BYTES, default 16M, across console.log and console.log.1).",
    )
    .action(async (name: string, opts: { follow?: boolean; raw?: boolean }) => {
      validateIdent(name, "VM name");
      const dir = ctx.paths.vm(name);
      const rec = await readVmRecord(dir);
      if (!rec)
        throw new MvmError("not_found", `no VM named ${name}`, { hint: "List VMs with 'mvmctl ls'." });
      const path = rec.console_log || `${dir}/console.log`;
      const out = consolePrinter(process.stdout, Boolean(opts.raw));
      try {
        if (opts.follow) await followConsoleLog(path, out.write);
        else await readConsoleLog(path, out.write);
      } finally {
        out.end();
      }
    });
}
