import type { CompletionNode, ValueKind } from "./tree.js";

// The fish script: helper functions find the command path and the number of arguments before the
// cursor the same way the bash script does, and each subcommand, flag and value is one `complete` line
// conditioned on the path.

function fishValues(v: ValueKind): string {
  switch (v.kind) {
    case "names":
      return `-x -a '(__mvmctl_names ${v.list})'`;
    case "words":
      return `-x -a '${v.words.join(" ")}'`;
    case "file":
      return "-r -F";
    case "dir":
      return `-x -a '(__fish_complete_directories (commandline -ct))'`;
    case "free":
      return "-x";
  }
}

export function fishScript(nodes: CompletionNode[]): string {
  const paths = nodes.filter((n) => n.path.length > 0).map((n) => `'${n.path.join(" ")}'`);
  const valueFlags = nodes.flatMap((n) => n.valueFlags.map((f) => `'${[...n.path, f.flag].join(" ")}'`));
  const lines = [
    "# mvmctl fish completion: mvmctl completion fish | source",
    `set -g __mvmctl_paths ${paths.join(" ")}`,
    `set -g __mvmctl_value_flags ${valueFlags.join(" ") || "''"}`,
    "# Prints the command path and the number of arguments after it, from the words before the cursor.",
    "function __mvmctl_state",
    "    set -l words (commandline -opc)",
    "    set -l path ''",
    "    set -l npos 0",
    "    set -l skip 0",
    "    for w in $words[2..-1]",
    "        if test $skip -eq 1",
    "            set skip 0",
    "            continue",
    "        end",
    "        if string match -q -- '-*' $w",
    '            if contains -- (string trim -- "$path $w") $__mvmctl_value_flags',
    "                set skip 1",
    "            end",
    "            continue",
    "        end",
    '        set -l next (string trim -- "$path $w")',
    "        if contains -- $next $__mvmctl_paths",
    "            set path $next",
    "            set npos 0",
    "        else",
    "            set npos (math $npos + 1)",
    "        end",
    "    end",
    "    echo $path",
    "    echo $npos",
    "end",
    "function __mvmctl_at",
    "    set -l state (__mvmctl_state)",
    '    test "$state[1]" = "$argv[1]"',
    "end",
    "function __mvmctl_arg_at",
    "    set -l state (__mvmctl_state)",
    '    test "$state[1]" = "$argv[1]"; and test "$state[2]" = 0',
    "end",
    "function __mvmctl_names",
    "    set -l cmd (commandline -opc)[1]",
    "    command $cmd __complete $argv[1] 2>/dev/null",
    "end",
    "complete -c mvmctl -f",
  ];
  for (const n of nodes) {
    const at = `__mvmctl_at '${n.path.join(" ")}'`;
    if (n.subcommands.length > 0) lines.push(`complete -c mvmctl -n "${at}" -a '${n.subcommands.join(" ")}'`);
    const valueFlag = new Map(n.valueFlags.map((f) => [f.flag, f.value]));
    for (const flag of n.flags) {
      const spelled = flag.startsWith("--") ? `-l '${flag.slice(2)}'` : `-s '${flag.slice(1)}'`;
      const value = valueFlag.get(flag);
      lines.push(`complete -c mvmctl -n "${at}" ${spelled}${value ? ` ${fishValues(value)}` : ""}`);
    }
    if (n.argument) {
      const arg = fishValues(n.argument).replace(/^-[xr] /, "");
      lines.push(`complete -c mvmctl -n "__mvmctl_arg_at '${n.path.join(" ")}'" ${arg}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
