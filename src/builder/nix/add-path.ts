import { MvmError } from "../../core/errors.js";
import { type NixContext, STORE_PATH } from "./ops.js";
import { runNix } from "./run.js";

/**
 * Copies a local directory into the Nix store under `name` and returns its store path
 * (`nix store add-path`). A store path is a plain path nix takes in a `path:` flake reference even
 * when the directory's own path holds spaces or symbols, which a `path:` URL cannot carry.
 */
export async function nixAddPath(dir: string, name: string, ctx: NixContext): Promise<string> {
  const r = await runNix({
    args: ["store", "add-path", "--name", name, dir],
    offline: ctx.offline,
    ...(ctx.log ? { log: ctx.log } : {}),
  });
  const out = r.stdout.trim();
  if (r.code !== 0 || !STORE_PATH.test(out))
    throw new MvmError(
      "external",
      `nix could not copy ${dir} into the Nix store: ${r.errors[0] ?? `status ${r.code}`}`,
    );
  return out;
}
