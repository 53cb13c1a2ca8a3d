import type { Command } from "commander";
import { MvmError, usageError } from "../../../core/errors.js";
import { identProblem, templateNameProblem } from "../../../core/names.js";
import { newSpec, SPEC_DEFAULTS, type TemplateSpec } from "../../../core/spec.js";
import { resolveFlakeRef } from "../../../store/flake-path.js";
import type { TemplateStore } from "../../../store/templates.js";
import { info, printJson, success, warn } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

interface CreateOpts {
  flake: string;
  profile: string;
  role: string;
  cpus: number;
  mem: number;
  dataDisk: number;
  force?: boolean;
  json?: boolean;
}

function resolvedFlake(flake: string): string {
  const r = resolveFlakeRef(flake);
  if (r.missing) warn(`flake path ${r.ref} does not exist yet`);
  return r.ref;
}

/**
 * Writes specs for several templates all-or-nothing: every name is locked and checked first; if any
 * write fails, the templates this call created are removed again.
 */
async function createAll(store: TemplateStore, specs: TemplateSpec[], force: boolean): Promise<void> {
  const names = specs.map((s) => s.template_id);
  const run = async (i: number): Promise<void> => {
    if (i < names.length) return store.withLock(names[i]!, () => run(i + 1));
    for (const n of names)
      if (!force && (await store.exists(n)))
        throw new MvmError("exists", `template ${n} already exists`, {
          hint: "Use '--force' to overwrite the existing template.",
        });
    const created: string[] = [];
    try {
      for (const spec of specs) {
        const existed = await store.exists(spec.template_id);
        if (existed) {
          // --force keeps the original creation time: it is an overwrite of the settings.
          const old = await store.loadSpec(spec.template_id).catch(() => undefined);
          if (old) spec.created_at = old.created_at;
        }
        await store.writeSpec(spec);
        if (!existed) created.push(spec.template_id);
      }
    } catch (e) {
      for (const n of created) await store.delete(n).catch(() => {});
      throw e;
    }
  };
  await run(0);
}

function commonFlags(cmd: Command): Command {
  return cmd
    .option("--flake <ref>", "flake reference (local path or URL-like ref)", parse.flake, SPEC_DEFAULTS.flake)
    .option("--profile <profile>", "flake package profile", parse.profile, SPEC_DEFAULTS.profile)
    .option("--cpus <n>", "vCPUs (1-32)", parse.cpus, SPEC_DEFAULTS.vcpus)
    .option("--mem <size>", "memory, e.g. 1024, 512M, 2G (128 MiB-64 GiB)", parse.mem, SPEC_DEFAULTS.mem_mib)
    .option("--data-disk <size>", "data disk size (0-4 TiB)", parse.dataDisk, SPEC_DEFAULTS.data_disk_mib)
    .option("--force", "overwrite an existing template")
    .option("--json", "print the created spec(s) as JSON");
}

export function registerCreate(template: Command, ctx: CliContext): void {
  commonFlags(
    template
      .command("create")
      .alias("new")
      .description("Create a template from a flake")
      .argument("<name>", "template name", parse.name)
      .option("--role <role>", "role of VMs started from it", parse.role, SPEC_DEFAULTS.role),
  ).action(async (name: string, opts: CreateOpts) => {
    const spec = newSpec({
      template_id: name,
      flake_ref: resolvedFlake(opts.flake),
      profile: opts.profile,
      role: opts.role,
      vcpus: opts.cpus,
      mem_mib: opts.mem,
      data_disk_mib: opts.dataDisk,
    });
    await createAll(ctx.store, [spec], Boolean(opts.force));
    if (opts.json) printJson(spec);
    else success(`Created template '${name}' (flake: ${spec.flake_ref}, profile: ${spec.profile})`);
  });
}

export function registerCreateMulti(template: Command, ctx: CliContext): void {
  commonFlags(
    template
      .command("create-multi")
      .description("Create one template per role, named <base>-<role>")
      .argument("<base>", "base name", (v) => {
        const p = templateNameProblem(v);
        if (p) throw usageError(`invalid template base name ${JSON.stringify(v)}: ${p}`);
        return v;
      })
      .requiredOption("--roles <list>", "comma-separated roles, e.g. worker,gateway"),
  ).action(async (base: string, opts: CreateOpts & { roles: string }) => {
    const roles = opts.roles.split(",").map((r) => r.trim());
    if (roles.length === 0 || roles.some((r) => r === ""))
      throw usageError(`invalid --roles ${JSON.stringify(opts.roles)}: empty role in the list`);
    const seen = new Set<string>();
    for (const role of roles) {
      const p = identProblem(role);
      if (p) throw usageError(`invalid role ${JSON.stringify(role)} in --roles: ${p}`);
      const p2 = templateNameProblem(`${base}-${role}`);
      if (p2) throw usageError(`invalid template name ${JSON.stringify(`${base}-${role}`)}: ${p2}`);
      if (seen.has(role)) throw usageError(`invalid --roles: ${role} is listed twice`);
      seen.add(role);
    }
    const flake = resolvedFlake(opts.flake);
    const specs = roles.map((role) =>
      newSpec({
        template_id: `${base}-${role}`,
        flake_ref: flake,
        profile: opts.profile,
        role,
        vcpus: opts.cpus,
        mem_mib: opts.mem,
        data_disk_mib: opts.dataDisk,
      }),
    );
    await createAll(ctx.store, specs, Boolean(opts.force));
    if (opts.json) printJson(specs);
    else for (const s of specs) info(`Created template '${s.template_id}' (role: ${s.role})`);
  });
}
