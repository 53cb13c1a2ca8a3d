import type { Command } from "commander";
import { type BuildResult, buildTemplate } from "../../../build/build-template.js";
import { buildVariants } from "../../../build/variants.js";
import { MvmError } from "../../../core/errors.js";
import { formatBytes } from "../../../core/sizes.js";
import { BuildProgressView } from "../../../ui/build-progress.js";
import { printJson, success } from "../../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

interface BuildOpts {
  force?: boolean;
  config?: string;
  updateHash?: boolean;
  json?: boolean;
}

function resultJson(r: BuildResult) {
  return {
    template: r.template,
    revision_hash: r.rev,
    cached: r.cached,
    dir: r.dir,
    attribute: r.attribute,
    out_path: r.outPath,
    log: r.logPath,
    warnings: r.warnings,
    revision: r.revision,
  };
}

function summary(r: BuildResult): string {
  const s = r.revision.artifact_paths.sizes;
  const sizes = s ? `, rootfs: ${formatBytes(s.rootfs_bytes)}, kernel: ${formatBytes(s.vmlinux_bytes)}` : "";
  return r.cached
    ? `Template '${r.template}' is up to date (revision: ${r.rev.slice(0, 12)})`
    : `Template '${r.template}' built successfully (revision: ${r.rev.slice(0, 12)}${sizes})`;
}

export function registerBuild(template: Command, ctx: CliContext): void {
  template
    .command("build")
    .description("Build a template's flake into a revision (kernel, rootfs, initrd) and make it current")
    .argument("<name>", "template name", parse.name)
    .option("--force", "make nix rebuild the output (--rebuild) and re-create this template's revision")
    .option("--config <file>", "build every [[variants]] entry of a TOML config")
    .option("--update-hash", "recompute the fixed-output hashes in the flake first")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      "\nThe flake's package must contain `kernel` or `vmlinux`, optionally `initrd`, and `rootfs.ext4`\n(or a `rootfs` image, or a `rootfs/` tree). Profile `default` builds packages.<system>.default;\nprofile P builds packages.<system>.P, else packages.<system>.tenant-P. Full logs: <data>/logs/.",
    )
    .action(async (name: string, opts: BuildOpts) => {
      const view = new BuildProgressView();
      const req = {
        force: Boolean(opts.force),
        updateHash: Boolean(opts.updateHash),
        onProgress: view.onProgress,
      };
      if (opts.config) {
        const results = await buildVariants(ctx.store, opts.config, name, req).finally(() => view.done());
        if (opts.json)
          printJson(results.map((v) => ({ ...v, result: v.result ? resultJson(v.result) : undefined })));
        else
          for (const v of results)
            v.result
              ? success(summary(v.result))
              : process.stderr.write(`error: variant ${v.template}: ${v.error}\n`);
        const failed = results.filter((v) => !v.ok);
        if (failed.length > 0)
          throw new MvmError(
            "external",
            `${failed.length} of ${results.length} variants failed: ${failed.map((v) => v.template).join(", ")}`,
          );
        return;
      }
      const result = await buildTemplate(ctx.store, name, req).finally(() => view.done());
      if (opts.json) printJson(resultJson(result));
      else success(summary(result));
    });
}
