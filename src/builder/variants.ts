import { promises as fs } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseTemplateConfig } from "../core/config.js";
import { MvmError, messageOf } from "../core/errors.js";
import { newSpec } from "../core/spec.js";
import { resolveFlakeRef } from "../store/flake-path.js";
import type { TemplateStore } from "../store/templates.js";
import { type BuildRequest, type BuildResult, buildTemplate } from "./build-template.js";

// `build --config F`, as in the original mvm: every [[variants]] entry of the TOML becomes a template (its
// settings overwritten from the file, its creation time kept) and is built. Unlike the original, a relative
// flake_ref is resolved against the config file's directory (not the working directory), the default profile
// is `default` on both paths, and a failing variant does not hide the results of the others.

export interface VariantResult {
  template: string;
  role: string;
  profile: string;
  ok: boolean;
  result?: BuildResult;
  error?: string;
}

export async function buildVariants(
  store: TemplateStore,
  configFile: string,
  fallbackName: string,
  req: BuildRequest & { onVariant?: (name: string, index: number, total: number) => void },
): Promise<VariantResult[]> {
  const file = resolve(configFile);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new MvmError(
      "not_found",
      `cannot read template config ${file}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`,
    );
  }
  const cfg = parseTemplateConfig(file, text, fallbackName);
  if (cfg.variants.length === 0) throw new MvmError("usage", `${file} has no [[variants]] to build`);
  const flake = resolveFlakeRef(cfg.flake_ref, dirname(file)).ref;
  const results: VariantResult[] = [];
  for (const [i, v] of cfg.variants.entries()) {
    req.onVariant?.(v.name, i, cfg.variants.length);
    const base = { template: v.name, role: v.role, profile: v.profile };
    try {
      await store.withLock(v.name, async () => {
        const spec = newSpec({
          template_id: v.name,
          flake_ref: flake,
          profile: v.profile,
          role: v.role,
          vcpus: v.vcpus,
          mem_mib: v.mem_mib,
          data_disk_mib: v.data_disk_mib,
        });
        const old = await store.loadSpec(v.name).catch(() => undefined);
        if (old) spec.created_at = old.created_at;
        await store.writeSpec(spec);
      });
      results.push({ ...base, ok: true, result: await buildTemplate(store, v.name, req) });
    } catch (e) {
      results.push({ ...base, ok: false, error: messageOf(e) });
    }
  }
  return results;
}
