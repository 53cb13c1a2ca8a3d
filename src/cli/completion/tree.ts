import type { Command } from "commander";
import { PRESETS } from "../../scaffold/model.js";
import { PLANNER_CHOICES } from "../../scaffold/planners/config.js";
import { HYPERVISOR_CHOICES } from "../../hypervisor/index.js";
import type { NameList } from "./names.js";

// What a completion script needs to know about the command tree: for every command path, its
// subcommands, its flags, which flags take a value and what kind of value, and what its first
// positional argument names. Generated from the live tree, so new commands and flags complete
// without edits; the kinds below say what a value is.

export type ValueKind =
  | { kind: "names"; list: NameList }
  | { kind: "words"; words: readonly string[] }
  | { kind: "file" }
  | { kind: "dir" }
  /** A value the user types (a number, a size, free text): nothing to offer. */
  | { kind: "free" };

const TEMPLATES: ValueKind = { kind: "names", list: "templates" };
const VMS: ValueKind = { kind: "names", list: "vms" };

/** Values of flags, by flag; a flag that takes a value and is not listed is free text. */
const FLAG_VALUES: Record<string, ValueKind> = {
  "--template": TEMPLATES,
  "--registry": { kind: "words", words: ["file://", "s3://", "oci://"] },
  "--preset": { kind: "words", words: PRESETS },
  "--hypervisor": { kind: "words", words: HYPERVISOR_CHOICES },
  "--planner": { kind: "words", words: PLANNER_CHOICES },
  "--config": { kind: "file" },
  "--socket": { kind: "file" },
  "--api-key-file": { kind: "file" },
  "--dir": { kind: "dir" },
  "--flake": { kind: "dir" },
};

/**
 * The first positional argument of these commands names something that exists. Commands that create
 * a name (`template create`, `init`) or name something remote (`template pull`) are not listed.
 */
const ARGUMENT_VALUES: Record<string, ValueKind> = {
  "template info": TEMPLATES,
  "template build": TEMPLATES,
  "template edit": TEMPLATES,
  "template delete": TEMPLATES,
  "template prune": TEMPLATES,
  "template push": TEMPLATES,
  "template verify": TEMPLATES,
  "template bench": TEMPLATES,
  down: VMS,
  logs: VMS,
  completion: { kind: "words", words: ["bash", "zsh", "fish"] },
};

export interface CompletionNode {
  /** Command words from the root, aliases included as their own paths. */
  path: string[];
  subcommands: string[];
  /** Every flag spelling (long and short). */
  flags: string[];
  /** Flags that take a value, with what the value is. */
  valueFlags: { flag: string; value: ValueKind }[];
  /** What the first positional argument is, when there is something to offer. */
  argument: ValueKind | undefined;
}

/** Commands the scripts do not offer (help is Commander's; __complete serves the scripts). */
const UNLISTED = new Set(["help", "__complete"]);

/** The argument table's key for a path: aliases resolve to the command's own name. */
function canonical(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

function visit(cmd: Command, path: string[], out: CompletionNode[]): void {
  const subs = cmd.commands.filter((c) => !UNLISTED.has(c.name()));
  const valueFlags: CompletionNode["valueFlags"] = [];
  for (const o of cmd.options) {
    if (!o.required && !o.optional) continue;
    const value = FLAG_VALUES[o.long ?? ""] ?? { kind: "free" };
    for (const flag of [o.long, o.short]) if (flag) valueFlags.push({ flag, value });
  }
  out.push({
    path,
    subcommands: subs.flatMap((c) => [c.name(), ...c.aliases()]),
    flags: cmd.options
      .flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)))
      .concat("--help"),
    valueFlags,
    argument: ARGUMENT_VALUES[canonical(cmd)],
  });
  for (const c of subs) for (const name of [c.name(), ...c.aliases()]) visit(c, [...path, name], out);
}

/** Every command path of the program, root first. */
export function completionTree(program: Command): CompletionNode[] {
  const out: CompletionNode[] = [];
  visit(program, [], out);
  return out;
}
