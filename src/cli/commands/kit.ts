import type { Command } from "commander";
import { buildKit, currentKit } from "../../kit/index.js";
import { info, printJson, printLine, success } from "../ui/output.js";
import type { CliContext } from "../context.js";

// `mvmctl kit build`: the offline guest kit (Debian cloud kernel + virtio modules + initramfs,
// busybox-static, the guest agent) that offline template flakes take as a path input.

export function registerKit(program: Command, ctx: CliContext): void {
  const kit = program.command("kit").description("The offline guest kit used by offline template flakes");
  kit
    .command("build")
    .description("Build the guest kit from this host's Debian packages into <data>/kit/<hash>")
    .option("--json", "print JSON: {dir, hash, created, kernel, modules}")
    .action(async (opts: { json?: boolean }) => {
      const r = await buildKit(ctx.paths, { onProgress: opts.json ? undefined : (m) => info(m) });
      const cur = await currentKit(ctx.paths);
      const kernel = cur?.manifest.kernel.version ?? null;
      const modules = cur?.manifest.modules ?? [];
      if (opts.json) {
        printJson({ dir: r.dir, hash: r.hash, created: r.created, kernel, modules });
        return;
      }
      if (r.created) success(`guest kit ${r.hash} built (kernel ${kernel}, ${modules.length} modules)`);
      else info(`guest kit ${r.hash} is up to date`);
      printLine(r.dir);
    });
}
