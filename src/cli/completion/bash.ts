import type { CompletionNode, ValueKind } from "./tree.js";

// The bash script (also used by zsh through bashcompinit, so no variable may be one of zsh's special
// names such as path or words). It walks the words before the cursor to find
// the command path, skipping flags and the values of flags that take one, then offers, in order: the
// value of the flag just typed, the command's first argument (template or VM names, shells), or its
// subcommands and flags. Names that exist only at run time come from `mvmctl __complete <list>`, run
// through the same program the user typed.

/** The case body that turns a value kind into COMPREPLY. */
function valueAction(v: ValueKind): string {
  switch (v.kind) {
    case "names":
      return `COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" __complete ${v.list} 2>/dev/null)" -- "$cur"))`;
    case "words":
      return `COMPREPLY=($(compgen -W '${v.words.join(" ")}' -- "$cur"))`;
    case "file":
      return `COMPREPLY=($(compgen -f -- "$cur"))`;
    case "dir":
      return `COMPREPLY=($(compgen -d -- "$cur"))`;
    case "free":
      return "COMPREPLY=()";
  }
}

function key(v: ValueKind): string {
  return v.kind === "names" ? `names:${v.list}` : v.kind === "words" ? `words:${v.words.join(",")}` : v.kind;
}

export function bashScript(nodes: CompletionNode[]): string {
  const kinds = new Map<string, ValueKind>();
  const flagCases: string[] = [];
  const argCases: string[] = [];
  for (const n of nodes) {
    const path = n.path.join(" ");
    for (const f of n.valueFlags) {
      kinds.set(key(f.value), f.value);
      flagCases.push(`    '${path}|${f.flag}') echo '${key(f.value)}' ;;`);
    }
    if (n.argument) {
      kinds.set(key(n.argument), n.argument);
      argCases.push(`    '${path}') echo '${key(n.argument)}' ;;`);
    }
  }
  const pathCases = nodes
    .filter((n) => n.path.length > 0)
    .map((n) => `      '${n.path.join(" ")}') cmdpath='${n.path.join(" ")}'; npos=0; continue ;;`);
  const wordCases = nodes.map(
    (n) => `    '${n.path.join(" ")}') offer='${[...n.subcommands, ...n.flags].join(" ")}' ;;`,
  );
  const valueCases = [...kinds.entries()].map(([k, v]) => `    '${k}') ${valueAction(v)} ;;`);
  return `# mvmctl bash completion: source <(mvmctl completion bash)
# The kind of value a flag takes in a command path ("" for a flag without a value).
_mvmctl_flag_kind() {
  case "$1|$2" in
${flagCases.join("\n")}
  esac
}
# What the first argument of a command path names ("" when there is nothing to offer).
_mvmctl_arg_kind() {
  case "$1" in
${argCases.join("\n")}
  esac
}
_mvmctl_values() {
  case "$1" in
${valueCases.join("\n")}
  esac
}
_mvmctl() {
  local cur cmdpath w i kind npos=0 skip=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmdpath=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    if [[ "$w" == -* ]]; then
      [[ -n "$(_mvmctl_flag_kind "$cmdpath" "$w")" ]] && skip=1
      continue
    fi
    case "\${cmdpath:+$cmdpath }$w" in
${pathCases.join("\n")}
    esac
    npos=$((npos + 1))
  done
  if ((skip)); then
    _mvmctl_values "$(_mvmctl_flag_kind "$cmdpath" "\${COMP_WORDS[COMP_CWORD - 1]}")"
    return
  fi
  kind="$(_mvmctl_arg_kind "$cmdpath")"
  if [[ -n "$kind" && "$cur" != -* && $npos -eq 0 ]]; then
    _mvmctl_values "$kind"
    return
  fi
  local offer=""
  case "$cmdpath" in
${wordCases.join("\n")}
  esac
  COMPREPLY=($(compgen -W "$offer" -- "$cur"))
}
complete -F _mvmctl mvmctl
`;
}
