import { accessSync, constants, statSync } from "node:fs";
import { arch } from "node:os";
import { delimiter, resolve } from "node:path";
import { MvmError } from "../core/errors.js";

// The external programs mvmctl runs, and the one way each is found: the variable that overrides it
// when set, else its usual name on PATH. Doctor, builds and VMs all ask here, so what doctor checks is
// what a command runs, and an error names the variable that chose a binary.

export type ToolName = "nix" | "qemu" | "qemu-img" | "firecracker";

interface ToolSpec {
  /** The environment variable that names the binary (a path, or a name looked up on PATH). */
  variable: string;
  /** The program looked up on PATH when the variable is not set. */
  defaultName: () => string;
  install: string;
}

export const TOOLS: Record<ToolName, ToolSpec> = {
  nix: {
    variable: "MVM_NIX",
    defaultName: () => "nix",
    install:
      "Install Nix 2.8 or newer: 'apt-get install nix-bin' on Debian/Ubuntu, or see https://nixos.org/download (mvmctl enables flakes itself).",
  },
  qemu: {
    variable: "MVM_QEMU_BIN",
    defaultName: () => (arch() === "arm64" ? "qemu-system-aarch64" : "qemu-system-x86_64"),
    install:
      arch() === "arm64"
        ? "Install it with: apt-get install qemu-system-arm."
        : "Install it with: apt-get install qemu-system-x86.",
  },
  "qemu-img": {
    variable: "MVM_QEMU_IMG",
    defaultName: () => "qemu-img",
    install: "Install it with: apt-get install qemu-utils.",
  },
  firecracker: {
    variable: "MVM_FIRECRACKER_BIN",
    defaultName: () => "firecracker",
    install:
      "Install a release from https://github.com/firecracker-microvm/firecracker/releases as firecracker on PATH.",
  },
};

/** Where a tool was looked for and what was found. */
export interface ToolLookup {
  tool: ToolName;
  /** The absolute path of the executable, when found. */
  path: string | undefined;
  /** The variable's value when it chose the binary, else undefined (PATH was searched). */
  chosenBy: { variable: string; value: string } | undefined;
  /** Why it is unusable, in words that name the variable or PATH; undefined when found. */
  problem: string | undefined;
  install: string;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable file called `name` in the directories of PATH. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = resolve(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** Finds a tool the way every command does; never throws. */
export function lookupTool(tool: ToolName, env: NodeJS.ProcessEnv = process.env): ToolLookup {
  const spec = TOOLS[tool];
  const value = env[spec.variable]?.trim();
  if (value) {
    const chosenBy = { variable: spec.variable, value };
    const path = value.includes("/")
      ? isExecutableFile(value)
        ? resolve(value)
        : undefined
      : findOnPath(value, env);
    return {
      tool,
      path,
      chosenBy,
      problem: path
        ? undefined
        : value.includes("/")
          ? `${spec.variable}=${value} is not an executable file`
          : `${spec.variable}=${value} names no program on PATH`,
      install: `Point ${spec.variable} at the ${tool} binary, or unset it to use '${spec.defaultName()}' on PATH.`,
    };
  }
  const name = spec.defaultName();
  const path = findOnPath(name, env);
  return {
    tool,
    path,
    chosenBy: undefined,
    problem: path ? undefined : `there is no '${name}' program on PATH`,
    install: `${spec.install} Or point ${spec.variable} at it.`,
  };
}

/**
 * The error for a tool that cannot be run: "nix is not installed: there is no 'nix' program on PATH",
 * or "nix cannot be run: MVM_NIX=/opt/nix is not an executable file".
 */
export function toolMissingError(found: ToolLookup): MvmError {
  const problem = found.problem ?? "it was not found";
  const message = found.chosenBy
    ? `${found.tool} cannot be run: ${problem}`
    : `${found.tool} is not installed: ${problem}`;
  return new MvmError("unsupported", message, { hint: found.install });
}

/** The absolute path of a tool, or a typed error naming the variable that chose it (or PATH). */
export function requireTool(tool: ToolName, env: NodeJS.ProcessEnv = process.env): string {
  const found = lookupTool(tool, env);
  if (!found.path) throw toolMissingError(found);
  return found.path;
}

/** How to say which binary ran, for messages about a tool that failed: "nix" or "MVM_NIX=/opt/nix". */
export function toolLabel(found: ToolLookup): string {
  return found.chosenBy
    ? `${found.chosenBy.variable}=${found.chosenBy.value}`
    : TOOLS[found.tool].defaultName();
}
