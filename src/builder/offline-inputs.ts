import { promises as fs } from "node:fs";
import type { DataPaths } from "../store/paths.js";
import type { BuildDeps } from "./deps.js";
import { type FlakeInputs, KIT_INPUT, LIBRARY_INPUT } from "./flake-inputs.js";

// Offline template flakes take two local inputs: `mvm` (mvmctl's Nix library) and `mvm-kit` (the guest
// kit, <data>/kit/<hash>). A flake scaffolded on this machine names paths that exist. A flake from
// elsewhere — the examples in nix/examples, a colleague's repository, a data dir that was wiped — names
// paths that do not: then the kit is created if needed and both inputs are pointed at this machine's
// copies with --override-input (which also leaves the flake's lock file alone).

export interface InputOverrides {
  args: string[];
  notes: string[];
}

async function usable(path: string): Promise<boolean> {
  // A symlink (such as kit/current) would enter the store as a link, not as the directory it names.
  const st = await fs.lstat(path).catch(() => undefined);
  return st?.isDirectory() === true;
}

export async function offlineInputOverrides(
  inputs: FlakeInputs,
  paths: DataPaths,
  deps: BuildDeps,
  onStep: (message: string) => void,
): Promise<InputOverrides> {
  const args: string[] = [];
  const notes: string[] = [];
  if (inputs.libraryPath !== undefined && !(await usable(inputs.libraryPath))) {
    const lib = deps.nixLibraryDir();
    args.push("--override-input", LIBRARY_INPUT, `path:${lib}`);
    notes.push(
      `input ${LIBRARY_INPUT}: ${inputs.libraryPath} is not a directory here; using mvmctl's library ${lib}`,
    );
  }
  if (inputs.kitPath !== undefined && !(await usable(inputs.kitPath))) {
    const kit = await deps.ensureKit(paths, (m) => onStep(`kit: ${m}`));
    args.push("--override-input", KIT_INPUT, `path:${kit}`);
    notes.push(
      `input ${KIT_INPUT}: ${inputs.kitPath} is not a directory here; using this machine's kit ${kit}`,
    );
  }
  return { args, notes };
}
