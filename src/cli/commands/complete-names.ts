import type { Command } from "commander";
import { completionNames, NAME_LISTS, type NameList } from "../completion/names.js";
import type { CliContext } from "../context.js";

// `mvmctl __complete templates|vms`: asked by the completion scripts at TAB time. One name per line,
// nothing on stderr, never an error exit; kept apart from `completion` so that it loads little.

export function registerCompleteNames(program: Command, ctx: CliContext): void {
  program
    .command("__complete", { hidden: true })
    .argument("<list>")
    .action(async (list: string) => {
      if (!(NAME_LISTS as readonly string[]).includes(list)) return;
      const names = await completionNames(ctx.paths, list as NameList).catch(() => []);
      if (names.length > 0) process.stdout.write(`${names.join("\n")}\n`);
    });
}
