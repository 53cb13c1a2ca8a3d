import type { Command } from "commander";
import { buildTemplate } from "../../builder/build-template.js";
import { applyManifest } from "../../manifest/apply.js";
import { resolveManifest } from "../../manifest/locate.js";
import { BuildProgressView } from "../ui/build-progress.js";
import { info, printJson, success } from "../ui/output.js";
import { hypervisorHelp, parseHypervisor } from "../../hypervisor/index.js";
import type { CliContext } from "../context.js";
import { DEFAULT_READY_TIMEOUT_S, parseReadyTimeout } from "../vm-options.js";
import { type BuildOpts, resultJson, snapshotAfterBuild, summary } from "./template/build.js";

interface ManifestBuildOpts extends Omit<BuildOpts, "readyTimeout" | "config"> {
  file?: string;
  rebuild?: boolean;
  readyTimeout?: number;
}

export function registerManifestBuild(program: Command, ctx: CliContext): void {
  program
    .command("build")
    .description("Create or update the template an mvm.toml describes, and build it")
    .argument(
      "[dir]",
      "directory holding mvm.toml (default: the nearest one at or above the current directory)",
    )
    .option("-f, --file <file>", "the manifest file to use")
    .option("--force", "accept a changed flake or profile for an existing template")
    .option("--rebuild", "make nix rebuild the output and re-create the revision")
    .option("--update-hash", "recompute the fixed-output hashes in the flake first")
    .option("--snapshot", "boot the revision once, wait until every health check passes, save a snapshot")
    .option(
      "--ready-timeout <s>",
      "with --snapshot: seconds (default: [snapshot] ready_timeout, else 300)",
      parseReadyTimeout,
    )
    .option("--hypervisor <h>", hypervisorHelp("with --snapshot: "), parseHypervisor, "auto")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      [
        "",
        "Without DIR or -f, mvm.toml is looked for in the current directory and its parents, up to the",
        "directory holding .git (or /). A relative `flake` in it is relative to the manifest's directory.",
        "vcpus, mem and data_disk changes apply to the template (a snapshot taken at other sizes is",
        "then cold-booted past, with the reason, until the next --snapshot); a changed flake or profile",
        "of an existing template needs --force.",
        "",
        "Examples:",
        "  mvmctl build",
        "  mvmctl build ./web --snapshot",
        "  mvmctl build -f deploy/mvm.toml --json",
      ].join("\n"),
    )
    .action(async (dir: string | undefined, opts: ManifestBuildOpts) => {
      const loaded = await resolveManifest({
        ...(opts.file !== undefined ? { file: opts.file } : {}),
        ...(dir !== undefined ? { target: dir } : {}),
      });
      const name = loaded.manifest.name;
      const applied = await applyManifest(ctx.store, loaded, { force: Boolean(opts.force) });
      if (!opts.json) {
        if (applied.movedFrom !== undefined)
          info(
            `The project moved from ${applied.movedFrom}; template '${name}' follows it to ${loaded.file}`,
          );
        if (applied.created) info(`Created template '${name}' from ${loaded.file}`);
        else if (applied.changed.length > 0)
          info(`Updated template '${name}' from ${loaded.file} (${applied.changed.join(", ")})`);
      }
      const view = new BuildProgressView();
      const result = await buildTemplate(ctx.store, name, {
        force: Boolean(opts.rebuild),
        updateHash: Boolean(opts.updateHash),
        onProgress: view.onProgress,
      }).finally(() => view.done());
      if (!opts.json) success(summary(result));
      const readyTimeout =
        opts.readyTimeout ?? loaded.manifest.snapshot.ready_timeout_s ?? DEFAULT_READY_TIMEOUT_S;
      const snap = opts.snapshot ? await snapshotAfterBuild(ctx, name, { ...opts, readyTimeout }) : undefined;
      if (opts.json)
        printJson({
          manifest: loaded.file,
          created: applied.created,
          changed: applied.changed,
          moved_from: applied.movedFrom ?? null,
          ...resultJson(result),
          ...(snap ? { snapshot: snap } : {}),
        });
    });
}
