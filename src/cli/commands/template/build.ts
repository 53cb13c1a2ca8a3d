import type { Command } from "commander";
import { type BuildResult, buildTemplate } from "../../../builder/build-template.js";
import { buildVariants } from "../../../builder/variants.js";
import { MvmError } from "../../../core/errors.js";
import { formatBytes } from "../../../core/sizes.js";
import { BuildProgressView } from "../../ui/build-progress.js";
import { info, printJson, success, warn } from "../../ui/output.js";
import {
  type HypervisorChoice,
  hypervisorHelp,
  parseHypervisor,
  selectBackend,
} from "../../../hypervisor/index.js";
import { snapshotTemplate } from "../../../vm/snapshot.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";
import { DEFAULT_READY_TIMEOUT_S, parseReadyTimeout } from "../../vm-options.js";

export interface BuildOpts {
  snapshot?: boolean;
  readyTimeout: number;
  hypervisor: HypervisorChoice;
  force?: boolean;
  config?: string;
  updateHash?: boolean;
  json?: boolean;
}

export function resultJson(r: BuildResult) {
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

export function summary(r: BuildResult): string {
  const s = r.revision.artifact_paths.sizes;
  const sizes = s ? `, rootfs: ${formatBytes(s.rootfs_bytes)}, kernel: ${formatBytes(s.vmlinux_bytes)}` : "";
  return r.cached
    ? `Template '${r.template}' is up to date (revision: ${r.rev.slice(0, 12)})`
    : `Template '${r.template}' built successfully (revision: ${r.rev.slice(0, 12)}${sizes})`;
}

/** `--snapshot`: after the build, boot once, wait for health, save into the revision's snapshot/. */
export async function snapshotAfterBuild(ctx: CliContext, name: string, opts: BuildOpts): Promise<unknown> {
  const backend = await selectBackend(opts.hypervisor, ctx.paths);
  if (!(await backend.capabilities()).snapshots) {
    warn(`the ${backend.name} backend cannot take snapshots: ${name} is image-only`);
    return { skipped: `the ${backend.name} backend cannot take snapshots` };
  }
  let abort: (() => Promise<void>) | undefined;
  const onSignal = () => {
    info("Interrupted: removing the snapshot VM");
    const done = () => process.exit(130);
    if (abort) abort().then(done, done);
    else done();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const out = await snapshotTemplate(ctx.store, ctx.paths, backend, name, {
      readyTimeoutMs: opts.readyTimeout * 1000,
      onProgress: (m) => (opts.json ? undefined : info(m)),
      onVm: (a) => {
        abort = a;
      },
    });
    const s = out.snapshot;
    if (!opts.json && !out.reused)
      success(
        `Snapshot created for template '${name}' (${formatBytes(s.vmstate_size_bytes + (s.mem_allocated_bytes ?? s.mem_size_bytes))} on disk, memory ${formatBytes(s.mem_size_bytes)}); 'mvmctl up ${name}' restores it`,
      );
    return {
      ...s,
      ready_ms: out.ready_ms,
      reused: out.reused,
      ...(out.prepared !== undefined ? { prepared: out.prepared } : {}),
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
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
    .option("--snapshot", "boot the revision once, wait until every health check passes, save a snapshot")
    .option(
      "--ready-timeout <s>",
      "with --snapshot: seconds to wait for the health checks",
      parseReadyTimeout,
      DEFAULT_READY_TIMEOUT_S,
    )
    .option("--hypervisor <h>", hypervisorHelp("with --snapshot: "), parseHypervisor, "auto")
    .addHelpText(
      "after",
      [
        "",
        "The flake's package must contain `kernel` or `vmlinux`, optionally `initrd`, and `rootfs.ext4`",
        "(or a `rootfs` image, or a `rootfs/` tree). Profile `default` builds packages.<system>.default;",
        "profile P builds packages.<system>.P, else packages.<system>.tenant-P. Full logs: <data>/logs/.",
        "",
        "A flake whose inputs are all local (path: or local git) builds without binary caches, so no",
        "network is needed; MVM_OFFLINE=1 forces that for any flake, MVM_OFFLINE=0 never does it.",
        "Offline flakes whose `mvm` / `mvm-kit` inputs do not exist here use mvmctl's library and this",
        "machine's guest kit (created on first need). MVM_NIX names another nix program.",
        "",
        "Examples:",
        "  mvmctl template build web",
        "  mvmctl template build web --force --json",
        "  mvmctl template build shop --config variants.toml",
      ].join("\n"),
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
        if (opts.snapshot)
          for (const v of results)
            if (v.ok && v.result)
              (v as { snapshot?: unknown }).snapshot = await snapshotAfterBuild(ctx, v.template, {
                ...opts,
                json: true,
              });
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
      if (!opts.json) success(summary(result));
      const snap = opts.snapshot ? await snapshotAfterBuild(ctx, name, opts) : undefined;
      if (opts.json) printJson({ ...resultJson(result), ...(snap ? { snapshot: snap } : {}) });
    });
}
