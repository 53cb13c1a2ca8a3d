import { bashScript } from "./bash.js";
import type { CompletionNode } from "./tree.js";

// zsh runs the bash script through bashcompinit, which provides complete, compgen and COMP_WORDS.

export function zshScript(nodes: CompletionNode[]): string {
  return `#compdef mvmctl
# mvmctl zsh completion: source <(mvmctl completion zsh)
autoload -U +X compinit && compinit -C
autoload -U +X bashcompinit && bashcompinit
${bashScript(nodes)}`;
}
