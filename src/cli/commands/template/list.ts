import { promises as fs } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { type TemplateHealthStatus, templateHealth } from "../../../store/health.js";
import type { TemplateStore } from "../../../store/templates.js";
import { paint, printJson, printLine } from "../../ui/output.js";
import { sanitize } from "../../ui/sanitize.js";
import type { CliContext } from "../../context.js";

interface TemplateRow {
  name: string;
  /** ready, not_built or broken: the same health every command reports. */
  status: TemplateHealthStatus;
  /** Why it is broken (null otherwise). */
  problem: string | null;
  revision: string | null;
  built_at: string | null;
  snapshot: boolean;
}

/** Directories in `dir` that hold a scaffolded or locally built template (the original mvm's "local"). */
async function localTemplates(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith(".")) continue;
    const base = join(dir, e.name);
    const hasRevisions = await fs.stat(join(base, "artifacts", "revisions")).then(
      (s) => s.isDirectory(),
      () => false,
    );
    const scaffolded = await fs.readFile(join(base, "flake.nix"), "utf8").then(
      (t) => t.includes("mkGuest"),
      () => false,
    );
    if (hasRevisions || scaffolded) out.push(e.name);
  }
  return out.sort();
}

async function rows(store: TemplateStore, names: string[]): Promise<TemplateRow[]> {
  return Promise.all(
    names.map(async (name) => {
      const health = await templateHealth(store, name);
      const cur = health.current;
      return {
        name,
        status: health.status,
        problem: health.status === "broken" ? (health.problem ?? null) : null,
        revision: cur?.rev ?? null,
        built_at: cur?.revision?.built_at ?? null,
        snapshot: Boolean(cur?.revision?.snapshot),
      };
    }),
  );
}

/** `list --remote`: the templates and revisions a registry holds. */
async function listRemote(ctx: CliContext, registry: string | undefined, json: boolean): Promise<void> {
  // The registry code is loaded only here: a local listing does not need it.
  const { withRegistry } = await import("../../../registry/open.js");
  await withRegistry(registry, ctx.paths.registry, async (transport) => {
    const templates = await transport.list();
    if (json) {
      printJson({ registry: transport.display, templates });
      return;
    }
    printLine(`Templates in ${transport.display}:`);
    if (templates.length === 0) printLine("  (none)");
    for (const t of templates) {
      const cur = t.current ? `current ${t.current.slice(0, 12)}` : "no current";
      // Names are the registry's words: shown through the sanitiser.
      printLine(sanitize(`  ${t.name.padEnd(24)}  ${cur}, ${t.revisions.length} revision(s)`));
      for (const r of t.revisions) printLine(sanitize(`    ${r}${r === t.current ? "  (current)" : ""}`));
    }
  });
}

export function registerList(template: Command, ctx: CliContext): void {
  template
    .command("list")
    .alias("ls")
    .description("List templates in the data dir and template directories here")
    .option("--json", "print JSON")
    .option("--remote", "list what a registry holds instead")
    .option(
      "--registry <url>",
      "registry for --remote (default: $MVM_TEMPLATE_REGISTRY, else file://<data>/registry)",
    )
    .action(async (opts: { json?: boolean; remote?: boolean; registry?: string }) => {
      if (opts.remote || opts.registry !== undefined)
        return listRemote(ctx, opts.registry, Boolean(opts.json));
      const store = ctx.store;
      const { templates, broken } = await store.list();
      const localBase = resolve(process.cwd());
      const local = await localTemplates(localBase);
      const detail = await rows(store, templates);
      if (opts.json) {
        printJson({
          vm_base: ctx.paths.templates,
          vm: templates,
          local_base: localBase,
          local,
          templates: detail,
          broken,
        });
        return;
      }
      printLine(`Templates (${ctx.paths.templates}):`);
      if (detail.length === 0 && broken.length === 0) printLine("  (none)");
      for (const r of detail) {
        if (r.status === "broken") {
          printLine(`  ${r.name.padEnd(24)}  ${paint("red", "broken", process.stdout)}: ${r.problem}`);
          continue;
        }
        const rev = r.revision
          ? `  ${r.revision.slice(0, 12)}${r.snapshot ? " +snapshot" : ""}`
          : "  (not built)";
        printLine(`  ${r.name.padEnd(24)}${rev}`);
      }
      for (const b of broken)
        printLine(`  ${b.name.padEnd(24)}  ${paint("red", "broken", process.stdout)}: ${sanitize(b.error)}`);
      printLine("");
      printLine("Local templates (base: ./):");
      if (local.length === 0) printLine("  (none)");
      for (const n of local) printLine(`  ${n}`);
    });
}
