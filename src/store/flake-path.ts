import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { isLocalFlakePath } from "../core/flake-ref.js";

/**
 * The original mvm's resolve_flake_ref: refs with `:` are kept as given; local paths become absolute
 * (symlinks resolved when the path exists). Returns whether the local path exists so callers can warn.
 */
export function resolveFlakeRef(ref: string, cwd = process.cwd()): { ref: string; missing: boolean } {
  if (!isLocalFlakePath(ref)) return { ref, missing: false };
  const [path, attr] = ref.includes("#")
    ? [ref.slice(0, ref.indexOf("#")), ref.slice(ref.indexOf("#"))]
    : [ref, ""];
  const abs = resolve(cwd, path);
  try {
    return { ref: realpathSync(abs) + attr, missing: false };
  } catch {
    return { ref: abs + attr, missing: true };
  }
}
