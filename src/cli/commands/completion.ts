import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import type { CliContext } from "../context.js";

// Completion scripts are generated from the live command tree, so new commands complete without edits.

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
}

function walk(cmd: Command, path: string[], out: Node[]): void {
  const subs = cmd.commands.filter((c) => c.name() !== "help");
  out.push({
    path,
    subcommands: subs.flatMap((c) => [c.name(), ...c.aliases()]),
    options: cmd.options
      .flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)))
      .concat("--help"),
  });
  for (const c of subs) {
    walk(c, [...path, c.name()], out);
    for (const a of c.aliases()) walk(c, [...path, a], out);
  }
}

function bash(nodes: Node[]): string {
  const cases = nodes
    .map((n) => `    "${n.path.join(" ")}") words="${[...n.subcommands, ...n.options].join(" ")}" ;;`)
    .join("\n");
  return `# mvmctl bash completion: source <(mvmctl completion bash)
_mvmctl() {
  local cur path w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${nodes.map((n) => `      "${n.path.join(" ")}") path="${n.path.join(" ")}" ;;`).join("\n")}
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _mvmctl mvmctl
`;
}

function zsh(nodes: Node[]): string {
  return `#compdef mvmctl
# mvmctl zsh completion: source <(mvmctl completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(nodes)}`;
}

function fish(nodes: Node[]): string {
  const lines = ["# mvmctl fish completion: mvmctl completion fish | source", "complete -c mvmctl -f"];
  for (const n of nodes) {
    const cond =
      n.path.length === 0
        ? "__fish_use_subcommand"
        : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const s of n.subcommands) lines.push(`complete -c mvmctl -n '${cond}' -a '${s}'`);
    for (const o of n.options)
      if (o.startsWith("--")) lines.push(`complete -c mvmctl -n '${cond}' -l '${o.slice(2)}'`);
  }
  return `${lines.join("\n")}\n`;
}

export function registerCompletion(program: Command, _ctx: CliContext): void {
  program
    .command("completion")
    .alias("completions")
    .description("Print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash | zsh | fish")
    .action((shell: string) => {
      const nodes: Node[] = [];
      walk(program, [], nodes);
      const gen = { bash, zsh, fish }[shell as "bash" | "zsh" | "fish"];
      if (!gen) throw usageError(`unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`);
      process.stdout.write(gen(nodes));
    });
}
