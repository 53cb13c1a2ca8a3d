import type { Command } from "commander";
import { recordedManifest } from "../../../manifest/apply.js";
import { totalBytes } from "../../../core/revision.js";
import { formatBytes } from "../../../core/sizes.js";
import { templateHealth, unhealthyError } from "../../../store/health.js";
import { printJson, printLine } from "../../ui/output.js";
import { sanitize } from "../../ui/sanitize.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

export function registerInfo(template: Command, ctx: CliContext): void {
  template
    .command("info")
    .description("Show a template's settings, current revision and snapshot")
    .argument("<name>", "template name", parse.name)
    .option("--json", "print {spec, revision, path, revision_dir, manifest} as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const store = ctx.store;
      const spec = await store.loadSpec(name);
      const health = await templateHealth(store, name);
      const cur = health.current;
      const rev = health.status === "ready" ? cur?.revision : undefined;
      const path = ctx.paths.template(name);
      const manifest = (await recordedManifest(ctx.paths, name)) ?? null;
      if (opts.json) {
        printJson({
          spec,
          revision: rev ?? null,
          path,
          revision_dir: cur?.dir ?? null,
          status: health.status,
          problem: health.status === "broken" ? (health.problem ?? null) : null,
          manifest,
        });
        if (health.status === "broken") throw unhealthyError(health);
        return;
      }
      // The original mvm's exact layout.
      const lines = [
        `Template: ${spec.template_id}`,
        `  Flake:   ${spec.flake_ref}`,
        `  Profile: ${spec.profile}`,
        `  Role:    ${spec.role}`,
        `  vCPUs:   ${spec.vcpus}`,
        `  MemMiB:  ${spec.mem_mib}`,
        `  DataMiB: ${spec.data_disk_mib}`,
        `  Created: ${spec.created_at}`,
        `  Updated: ${spec.updated_at}`,
        `  Path:    ${path}`,
      ];
      if (manifest) lines.push(`  Manifest: ${manifest}`);
      if (rev) {
        lines.push(
          "",
          "Current revision:",
          `  Hash:    ${rev.revision_hash.slice(0, 12)}`,
          `  Built:   ${rev.built_at}`,
        );
        const s = rev.artifact_paths.sizes;
        if (s) {
          lines.push(
            `  Kernel:  ${formatBytes(s.vmlinux_bytes)}`,
            `  Rootfs:  ${formatBytes(s.rootfs_bytes)}`,
          );
          if (s.initrd_bytes !== undefined) lines.push(`  Initrd:  ${formatBytes(s.initrd_bytes)}`);
          lines.push(`  Total:   ${formatBytes(totalBytes(s))}`);
          if (s.nix_closure_bytes !== undefined) lines.push(`  Closure: ${formatBytes(s.nix_closure_bytes)}`);
        }
        const snap = rev.snapshot;
        if (snap) {
          lines.push(
            "",
            "Snapshot:",
            `  Created: ${snap.created_at}`,
            `  VM state: ${formatBytes(snap.vmstate_size_bytes)}`,
            `  Memory:   ${formatBytes(snap.mem_size_bytes)}`,
            `  Total:    ${formatBytes(snap.vmstate_size_bytes + snap.mem_size_bytes)}`,
          );
          if (snap.backend) lines.push(`  Backend:  ${snap.backend}`);
        } else lines.push("", "Snapshot: (none)");
      } else if (health.status === "broken")
        lines.push("", `Revision: broken: ${health.problem}`, `  ${health.hint ?? ""}`.trimEnd());
      else lines.push("", "Revision: (not yet built)");
      // A pulled template's files came from a registry: print their text through the sanitiser.
      for (const l of lines) printLine(sanitize(l));
      // What a broken template holds is shown above; the command still fails, with the reason.
      if (health.status === "broken") throw unhealthyError(health);
    });
}
