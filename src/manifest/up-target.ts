import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import { usageError } from "../core/errors.js";
import { MANIFEST_FILE } from "../core/manifest.js";
import { templateNameProblem } from "../core/names.js";
import { resolveManifest } from "./locate.js";

export interface UpTarget {
  /** The template (possibly with :TAG or @sha256:… after it, parsed by the caller). */
  ref: string;
  /** The manifest the template came from, when it was found through one. */
  manifest?: string;
}

function looksLikePath(arg: string): boolean {
  return arg === "." || arg === ".." || arg.includes("/");
}

/**
 * What `mvmctl up [DIR|NAME] [--template NAME]` starts. A path (`.`, `..`, anything with a slash)
 * names a directory holding mvm.toml; any other word is a template reference, unless no template of
 * that name exists and a directory of that name holds an mvm.toml. With neither, the nearest
 * mvm.toml at or above the current directory names the template.
 */
export async function resolveUpTarget(
  arg: string | undefined,
  templateFlag: string | undefined,
  exists: (name: string) => Promise<boolean>,
  cwd = process.cwd(),
): Promise<UpTarget> {
  if (arg !== undefined && templateFlag !== undefined)
    throw usageError(`give the template once: either '${arg}' or --template ${templateFlag}`);
  if (templateFlag !== undefined) return { ref: templateFlag };
  if (arg === undefined) {
    const loaded = await resolveManifest({ cwd }).catch((e: Error) => {
      throw usageError(
        `no template given and ${e.message}`,
        "Run 'mvmctl up NAME', or run it where an mvm.toml is.",
      );
    });
    return { ref: loaded.manifest.name, manifest: loaded.file };
  }
  if (!looksLikePath(arg)) {
    const bare = arg.split(/[:@]/)[0]!;
    const dirManifest = join(resolve(cwd, arg), MANIFEST_FILE);
    const useDir =
      arg === bare &&
      !(await exists(bare)) &&
      ((await fs.stat(dirManifest).catch(() => undefined))?.isFile() ?? false);
    if (!useDir) {
      const problem = templateNameProblem(bare);
      if (problem) throw usageError(`invalid template ${JSON.stringify(arg)}: ${problem}`);
      return { ref: arg };
    }
  }
  const loaded = await resolveManifest({ target: arg, cwd });
  return { ref: loaded.manifest.name, manifest: loaded.file };
}
