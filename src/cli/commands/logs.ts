import { createReadStream, promises as fs } from "node:fs";
import type { Command } from "commander";
import { MvmError } from "../../core/errors.js";
import { validateIdent } from "../../core/names.js";
import { readVmRecord } from "../../vm/vm-state.js";
import type { CliContext } from "../context.js";

async function copyRange(path: string, start: number, end: number): Promise<void> {
  if (end <= start) return;
  await new Promise<void>((res, rej) => {
    const s = createReadStream(path, { start, end: end - 1 });
    s.on("data", (d) => process.stdout.write(d));
    s.on("end", () => res());
    s.on("error", rej);
  });
}

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command("logs")
    .description("Print a VM's console output")
    .argument("<name>", "VM name (see 'mvmctl ls')")
    .option("-f, --follow", "keep printing new output until the VM stops (or Ctrl-C)")
    .action(async (name: string, opts: { follow?: boolean }) => {
      validateIdent(name, "VM name");
      const dir = ctx.paths.vm(name);
      const rec = await readVmRecord(dir);
      if (!rec)
        throw new MvmError("not_found", `no VM named ${name}`, { hint: "List VMs with 'mvmctl ls'." });
      const path = rec.console_log || `${dir}/console.log`;
      let offset = 0;
      const size = async () => (await fs.stat(path).catch(() => undefined))?.size;
      const now = (await size()) ?? 0;
      await copyRange(path, 0, now);
      offset = now;
      if (!opts.follow) return;
      for (;;) {
        const s = await size();
        if (s === undefined) return; // the VM is gone (down, or it powered off)
        await copyRange(path, offset, s);
        offset = s;
        await new Promise((r) => setTimeout(r, 200));
      }
    });
}
