import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { bashScript } from "../completion/bash.js";
import { fishScript } from "../completion/fish.js";
import { completionTree } from "../completion/tree.js";
import { zshScript } from "../completion/zsh.js";
import type { CliContext } from "../context.js";

// Completion scripts are generated from the live command tree, so new commands complete without edits.

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export function registerCompletion(program: Command, _ctx: CliContext): void {
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
}
