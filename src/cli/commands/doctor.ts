import type { Command } from "commander";
import { runDoctor } from "../../doctor/index.js";
import { paint, printJson, printLine } from "../ui/output.js";
import type { CliContext } from "../context.js";

const LABEL = { ok: "OK  ", warn: "WARN", fail: "FAIL" } as const;
const COLOR = { ok: "green", warn: "yellow", fail: "red" } as const;

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command("doctor")
    .description("Check this host: nix, QEMU, /dev/kvm, Firecracker, guest kit, data dir, registry")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const checks = await runDoctor(ctx.paths);
      const failed = checks.some((c) => c.status === "fail");
      if (opts.json) printJson({ ok: !failed, checks });
      else {
        const width = Math.max(...checks.map((c) => c.name.length));
        for (const c of checks) {
          printLine(
            `${paint(COLOR[c.status], LABEL[c.status], process.stdout)}  ${c.name.padEnd(width)}  ${c.detail}`,
          );
          if (c.fix && c.status !== "ok") printLine(`      ${" ".repeat(width)}  fix: ${c.fix}`);
        }
      }
      if (failed) process.exitCode = 1;
    });
}
