import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

// The Nix library (nix/) ships next to the compiled CLI: dist/src/kit/*.js → ../../../nix.

/** Absolute path of the mkGuest library flake (`nix/` in this package). */
export function nixLibraryDir(): string {
  return fileURLToPath(new URL("../../../nix", import.meta.url));
}

/** Guest-side sources: the agent (C) and the init scripts. */
export function guestSourceDir(): string {
  const dir = fileURLToPath(new URL("../../../nix/guest", import.meta.url));
  if (!existsSync(dir)) throw new Error(`guest sources missing at ${dir}`);
  return dir;
}
