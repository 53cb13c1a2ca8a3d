import { promises as fs } from "node:fs";
import type { DataPaths } from "../store/paths.js";
import type { BuildDeps } from "./deps.js";
import { type FlakeInputs, KIT_INPUT, LIBRARY_INPUT } from "./flake-inputs.js";
import { NIX_SAFE_PATH } from "./flake-source.js";
import { nixAddPath } from "./nix/add-path.js";
import type { NixContext } from "./nix/ops.js";

// Template flakes take mvmctl's Nix library as the input `mvm` and, offline, the guest kit as
// `mvm-kit`. A scaffolded flake names the published library and a stand-in for the kit, never a path
// on the host; the build points both at this machine's copies with --override-input: the library
// installed with this mvmctl (or MVM_NIX_LIB) and the kit under the data dir, created if needed. The
// flake and its lock file are left as they are, so the project builds the same from any checkout
// directory, offline, and keeps building after mvmctl is upgraded or moved.
//
// An input that names a directory that exists here is kept: that is someone developing against a
// checkout of the library, or a flake from an older mvmctl that named this machine's copies. One that
// names a directory that does not exist (the examples in nix/examples, a flake from another machine)
// is replaced, with a note saying so.

export interface InputOverrides {
  args: string[];
  notes: string[];
}

/**
 * A `path:` flake reference to `dir`. nix takes only plain paths in one, so a directory whose path
 * holds spaces or symbols (a data dir or install prefix chosen so) is given by its copy in the store.
 */
async function pathRef(dir: string, name: string, ctx: NixContext): Promise<string> {
  return `path:${NIX_SAFE_PATH.test(dir) ? dir : await nixAddPath(dir, name, ctx)}`;
}

async function usable(path: string | undefined): Promise<boolean> {
  if (path === undefined) return false;
  // A symlink (such as kit/current) would enter the store as a link, not as the directory it names.
  const st = await fs.lstat(path).catch(() => undefined);
  return st?.isDirectory() === true;
}

export async function offlineInputOverrides(
  inputs: FlakeInputs,
  paths: DataPaths,
  deps: BuildDeps,
  ctx: NixContext,
  onStep: (message: string) => void,
): Promise<InputOverrides> {
  const args: string[] = [];
  const notes: string[] = [];
  if (inputs.hasLibrary && !(await usable(inputs.libraryPath))) {
    const lib = deps.nixLibraryDir();
    args.push("--override-input", LIBRARY_INPUT, await pathRef(lib, "mvm-library", ctx));
    if (inputs.libraryPath !== undefined)
      notes.push(
        `input ${LIBRARY_INPUT}: ${inputs.libraryPath} is not a directory here; using mvmctl's library ${lib}`,
      );
  }
  if (inputs.hasKit && !(await usable(inputs.kitPath))) {
    const kit = await deps.ensureKit(paths, (m) => onStep(`kit: ${m}`));
    args.push("--override-input", KIT_INPUT, await pathRef(kit, "mvm-kit", ctx));
    if (inputs.kitPath !== undefined)
      notes.push(
        `input ${KIT_INPUT}: ${inputs.kitPath} is not a directory here; using this machine's kit ${kit}`,
      );
  }
  return { args, notes };
}
