import type { Command } from "commander";
import { usageError } from "../../../core/errors.js";
import { specTimestamp } from "../../../core/time.js";
import { resolveFlakeRef } from "../../../store/flake-path.js";
import { info, printJson, printLine, warn } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

interface EditOpts {
  flake?: string;
  profile?: string;
  role?: string;
  cpus?: number;
  mem?: number;
  dataDisk?: number;
  json?: boolean;
}

export function registerEdit(template: Command, ctx: CliContext): void {
  template
    .command("edit")
    .description("Change a template's settings (only the flags given)")
    .argument("<name>", "template name", parse.name)
    .option("--flake <ref>", "flake reference", parse.flake)
    .option("--profile <profile>", "flake package profile", parse.profile)
    .option("--role <role>", "role", parse.role)
    .option("--cpus <n>", "vCPUs (1-32)", parse.cpus)
    .option("--mem <size>", "memory (128 MiB-64 GiB)", parse.mem)
    .option("--data-disk <size>", "data disk size (0-4 TiB)", parse.dataDisk)
    .option("--json", "print the updated spec as JSON")
    .action(async (name: string, opts: EditOpts) => {
      const given = (["flake", "profile", "role", "cpus", "mem", "dataDisk"] as const).filter(
        (k) => opts[k] !== undefined,
      );
      if (given.length === 0)
        throw usageError(
          "nothing to edit: give at least one of --flake --profile --role --cpus --mem --data-disk",
        );
      const store = ctx.store;
      const spec = await store.withLock(name, async () => {
        const s = await store.loadSpec(name);
        if (opts.flake !== undefined) s.flake_ref = resolveFlakeRef(opts.flake).ref;
        if (opts.profile !== undefined) s.profile = opts.profile;
        if (opts.role !== undefined) s.role = opts.role;
        if (opts.cpus !== undefined) s.vcpus = opts.cpus;
        if (opts.mem !== undefined) s.mem_mib = opts.mem;
        if (opts.dataDisk !== undefined) s.data_disk_mib = opts.dataDisk;
        s.updated_at = specTimestamp();
        await store.writeSpec(s);
        return s;
      });
      // Say which parts of the built revision no longer match.
      const rev = (await store.loadCurrent(name).catch(() => undefined))?.revision;
      const stale: string[] = [];
      if (rev) {
        if (rev.flake_ref !== spec.flake_ref) stale.push("flake");
        if (rev.profile !== spec.profile) stale.push("profile");
        if (rev.snapshot && (rev.snapshot.vcpus !== spec.vcpus || rev.snapshot.mem_mib !== spec.mem_mib))
          stale.push("snapshot sizing");
      }
      if (opts.json) {
        printJson({ spec, stale });
        return;
      }
      printLine(`Updated template '${name}'`);
      printLine(` vCPUs:   ${spec.vcpus}`);
      printLine(` MemMiB:  ${spec.mem_mib}`);
      printLine(` DataMiB: ${spec.data_disk_mib}`);
      if (stale.length > 0) {
        warn(`the current revision no longer matches the spec (${stale.join(", ")})`);
        const rebuild = stale.includes("flake") || stale.includes("profile");
        if (stale.includes("snapshot sizing"))
          info(
            `Until a new snapshot is taken, 'mvmctl up' cold-boots ${name} at the new size; 'mvmctl template build ${name}${rebuild ? " --force" : ""} --snapshot' takes one`,
          );
        else info(`Run 'mvmctl template build ${name} --force' to rebuild`);
      }
    });
}
