import type { Command } from "commander";
import { validateRevision } from "../../../core/names.js";
import { validateTag } from "../../../core/refs.js";
import { formatBytes } from "../../../core/sizes.js";
import { withRegistry } from "../../../registry/open.js";
import { silentProgress } from "../../../registry/progress.js";
import { StderrProgress } from "../../ui/transfer-progress.js";
import { pullRevision } from "../../../registry/pull.js";
import { info, printJson, success } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerPull(template: Command, ctx: CliContext): void {
  template
    .command("pull")
    .description("Download a revision from a registry, verify it, and make it the template's current one")
    .argument("<name>", "template name", parse.name)
    .option("--revision <rev>", "revision to pull (default: the registry's current)", (v: string) =>
      validateRevision(v),
    )
    .option(
      "--registry <url>",
      "file:///dir, s3://bucket/prefix or oci://host/repository (oci://host/repository@sha256:<digest> or :<tag> pins the manifest)",
    )
    .option(
      "--tag <tag>",
      "pull the revision the registry's tag names, and set the same tag here",
      validateTag,
    )
    .option("--json", "print the result as JSON")
    .action(
      async (name: string, opts: { revision?: string; registry?: string; tag?: string; json?: boolean }) => {
        const result = await withRegistry(opts.registry, ctx.paths.registry, (transport) => {
          if (!opts.json) info(`Pulling ${name} from ${transport.display}`);
          return pullRevision(ctx.store, transport, {
            template: name,
            ...(opts.revision ? { revision: opts.revision } : {}),
            ...(opts.tag ? { tag: opts.tag } : {}),
            progress: opts.json ? silentProgress : new StderrProgress(`pull ${name}`),
          });
        });
        if (opts.json) {
          printJson(result);
          return;
        }
        success(
          result.already_present
            ? `Revision ${result.revision.slice(0, 12)} of ${name} was already here and intact; it is now current`
            : `Pulled ${name} revision ${result.revision.slice(0, 12)} (${result.files.length} files, ${formatBytes(result.downloaded_bytes)} received${result.layout === "original" ? ", original mvm layout" : ""}); it is now current`,
        );
      },
    );
}
