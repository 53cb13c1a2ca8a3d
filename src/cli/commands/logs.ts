import type { Command } from "commander";
import { MvmError } from "../../core/errors.js";
import { validateIdent } from "../../core/names.js";
import { consolePrinter } from "../ui/sanitize.js";
import type { CliContext } from "../context.js";
import { NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .description("Print a VM's console output")
    .argument("<name>", "VM name (see 'mvmctl ls')")
    .option("-f, --follow", "keep printing new output until the VM stops (or Ctrl-C)")
    .option("--raw", "print the console's bytes as they are (escape sequences and all)")
    .option("--no-daemon", NO_DAEMON_HELP)
    .addHelpText(
      "after",
      "\nThe console is the guest's output: control characters and escape sequences are shown escaped\n(ESC as \\x1b) and very long lines are cut, unless --raw is given. The log keeps the most recent\noutput (MVM_CONSOLE_LOG_MAX_BYTES, default 16M, across console.log and console.log.1).\n\nWhile a daemon ('mvmctl serve') runs for this data dir, the log is read through it (GET\n/v1/vms/NAME/logs); --no-daemon (or MVM_NO_DAEMON=1) reads the VM's files directly.",
    )
    .action(async (name: string, opts: { follow?: boolean; raw?: boolean; daemon?: boolean }) => {
      validateIdent(name, "VM name");
      const daemon = await runningDaemon(ctx, opts);
      if (daemon) {
        const { logsThroughDaemon } = await import("./logs-daemon.js");
        const out = consolePrinter(process.stdout, Boolean(opts.raw));
        try {
          await logsThroughDaemon(daemon, name, Boolean(opts.follow), out.write);
        } finally {
          out.end();
        }
        return;
      }
      const { readVmRecord } = await import("../../vm/records.js");
      const { followConsoleLog, readConsoleLog } = await import("../../hypervisor/keeper/console-log.js");
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
