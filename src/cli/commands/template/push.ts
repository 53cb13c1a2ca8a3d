import type { Command } from "commander";
import { validateRevision } from "../../../core/names.js";
import { validateTag } from "../../../core/refs.js";
import { formatBytes } from "../../../core/sizes.js";
import { resolveLayout } from "../../../registry/location.js";
import { withRegistry } from "../../../registry/open.js";
import { silentProgress } from "../../../registry/progress.js";
import { StderrProgress } from "../../ui/transfer-progress.js";
import { pushRevision } from "../../../registry/push.js";
import { info, printJson, printLine, success, warn } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerPush(template: Command, ctx: CliContext): void {
  template
    .command("push")
    .description("Upload a built revision (kernel, rootfs, initrd, snapshot, spec) to a registry")
    .argument("<name>", "template name", parse.name)
    .option("--revision <rev>", "revision to push (default: current)", (v: string) => validateRevision(v))
    .option(
      "--registry <url>",
      "file:///dir, s3://bucket/prefix or oci://host/repository (default: $MVM_TEMPLATE_REGISTRY, else file://<data>/registry)",
    )
    .option("--no-snapshot", "leave the snapshot at home (revision.json is pushed without it)")
    .option(
      "--layout <layout>",
      "mvm (default: sparse transfer, snapshot) or original (plain objects the original mvm reads: vmlinux, its checksums.json, no snapshot); default $MVM_TEMPLATE_REGISTRY_LAYOUT",
    )
    .option(
      "--tag <tag>",
      "also point this tag at the pushed revision, here and in the registry (repeatable; local tags naming the revision are pushed too)",
      (v: string, acc: string[]) => [...acc, validateTag(v)],
      [] as string[],
    )
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      "\nEnvironment: MVM_TEMPLATE_REGISTRY, MVM_TEMPLATE_REGISTRY_{ENDPOINT,BUCKET,ACCESS_KEY_ID,SECRET_ACCESS_KEY,PREFIX,REGION,INSECURE,LAYOUT},\nAWS_* (S3), MVM_OCI_USERNAME / MVM_OCI_PASSWORD or ~/.docker/config.json: credHelpers, credsStore, auths (OCI), MVM_REGISTRY_RETRIES.",
    )
    .action(
      async (
        name: string,
        opts: {
          revision?: string;
          registry?: string;
          snapshot: boolean;
          layout?: string;
          tag: string[];
          json?: boolean;
        },
      ) => {
        const layout = resolveLayout(opts.layout);
        const result = await withRegistry(opts.registry, ctx.paths.registry, (transport) => {
          if (!opts.json) info(`Pushing ${name} to ${transport.display}`);
          return pushRevision(ctx.store, transport, {
            template: name,
            ...(opts.revision ? { revision: opts.revision } : {}),
            snapshot: opts.snapshot,
            layout,
            tags: opts.tag,
            progress: opts.json ? silentProgress : new StderrProgress(`push ${name}`),
          });
        });
        if (result.conditional_writes_ignored && result.tags.some((t) => t.guard === "checked"))
          warn(
            `${result.registry} ignores conditional writes (If-None-Match / If-Match): tags were moved with a read-check-write that two pushes at the same instant could both pass`,
          );
        if (opts.json) {
          printJson(result);
          return;
        }
        const sent = result.files.filter((f) => f.uploaded).length;
        success(
          `Pushed ${name} revision ${result.revision.slice(0, 12)}${result.snapshot ? " with snapshot" : ""}: ` +
            `${sent} of ${result.files.length} files sent (${formatBytes(result.uploaded_bytes)}), ` +
            `${result.files.length - sent} already in the registry` +
            (result.layout === "original" ? " (original mvm layout)" : ""),
        );
        if (result.digest) printLine(`Digest: ${result.digest}`);
        for (const t of result.tags) printLine(`Tag: ${name}:${t.tag}`);
      },
    );
}
