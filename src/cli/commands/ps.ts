import type { Command } from "commander";
import { sanitize } from "../../core/untrusted-text.js";
import { printJson, printLine } from "../ui/output.js";
import { connectVmGuest } from "../../vm/guest-connect.js";
import { listGuestProcesses } from "../../guest/exec.js";
import type { CliContext } from "../context.js";

function status(p: {
  running: boolean;
  exit: { code: number | null; signal: number | null } | null;
}): string {
  if (p.running) return "running";
  if (p.exit?.signal != null) return `killed (signal ${p.exit.signal})`;
  return `exited (${p.exit?.code ?? "?"})`;
}

export function registerPs(program: Command, ctx: CliContext): void {
  program
    .command("ps")
    .description("List the processes started in a VM with 'mvmctl exec' (running, or finished and unread)")
    .argument("<vm>", "VM name (see 'mvmctl ls')")
    .option("--json", "print the list as JSON")
    .action(async (vm: string, opts: { json?: boolean }) => {
      const { channel } = await connectVmGuest(ctx.paths, vm);
      try {
        const procs = await listGuestProcesses(channel);
        if (opts.json) return printJson(procs);
        if (procs.length === 0) return printLine("no processes started by exec");
        const rows = procs.map((p) => [
          String(p.pid),
          String(p.uid),
          `${Math.round(p.age_ms / 1000)}s`,
          status(p),
          p.attached ? "yes" : "no",
          sanitize(p.command, 120),
        ]);
        const head = ["PID", "UID", "AGE", "STATUS", "ATTACHED", "COMMAND"];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
        for (const r of [head, ...rows])
          printLine(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "));
      } finally {
        channel.close();
      }
    });
}
