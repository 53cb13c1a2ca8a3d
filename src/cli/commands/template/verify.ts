import type { Command } from "commander";
import { MvmError } from "../../../core/errors.js";
import { validateRevision } from "../../../core/names.js";
import { withRegistry } from "../../../registry/open.js";
import { verifyLocal, verifyRemote } from "../../../registry/verify.js";
import { paint, printJson, printLine } from "../../ui/output.js";
import { sanitize } from "../../ui/sanitize.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerVerify(template: Command, ctx: CliContext): void {
  template
    .command("verify")
    .description("Check every file of a revision against its checksums.json (or the registry's copy)")
    .argument("<name>", "template name", parse.name)
    .option("--revision <rev>", "revision to check (default: current)", (v: string) => validateRevision(v))
    .option("--remote", "compare against the registry's index of the same revision")
    .option("--registry <url>", "registry for --remote")
    .option("--json", "print the result as JSON")
    .action(
      async (
        name: string,
        opts: { revision?: string; remote?: boolean; registry?: string; json?: boolean },
      ) => {
        const result = opts.remote
          ? await withRegistry(opts.registry, ctx.paths.registry, (t) =>
              verifyRemote(ctx.store, t, name, opts.revision),
            )
          : await verifyLocal(ctx.store, name, opts.revision);
        if (opts.json) printJson(result);
        else {
          printLine(sanitize(`Revision ${result.revision} of ${name} against ${result.against}:`));
          for (const f of result.files) {
            const color = f.status === "OK" ? "green" : "red";
            printLine(`  ${paint(color, f.status.padEnd(8), process.stdout)} ${sanitize(f.name)}`);
          }
        }
        const bad = result.files.filter((f) => f.status !== "OK");
        if (!result.ok)
          throw new MvmError(
            "integrity",
            `revision ${result.revision} of ${name} failed verification: ${bad.length} of ${result.files.length} files`,
          );
      },
    );
}
