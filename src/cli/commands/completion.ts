import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { bashScript } from "../completion/bash.js";
import { fishScript } from "../completion/fish.js";
import { completionNames } from "../completion/names.js";
import { completionTree, NAME_LISTS, type NameList } from "../completion/tree.js";
import { zshScript } from "../completion/zsh.js";
import type { CliContext } from "../context.js";

// Completion scripts are generated from the live command tree, so new commands complete without edits.

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .alias("completions")
    .description("Print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash | zsh | fish")
    .addHelpText(
      "after",
      "\nbash: source <(mvmctl completion bash)   zsh: source <(mvmctl completion zsh)\n" +
        "fish: mvmctl completion fish | source\n" +
        "Template names, VM names, presets, hypervisors and registry schemes complete too.",
    )
    .action((shell: string) => {
      const gen = SHELLS[shell as keyof typeof SHELLS];
      if (!gen) throw usageError(`unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`);
      process.stdout.write(gen(completionTree(program)));
    });
  // Asked by the scripts at TAB time: one name per line, nothing on stderr, never an error exit.
  program
    .command("__complete", { hidden: true })
    .argument("<list>")
    .action(async (list: string) => {
      if (!(NAME_LISTS as readonly string[]).includes(list)) return;
      const names = await completionNames(ctx.paths, list as NameList).catch(() => []);
      if (names.length > 0) process.stdout.write(`${names.join("\n")}\n`);
    });
}
