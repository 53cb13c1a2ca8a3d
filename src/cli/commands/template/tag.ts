import type { Command } from "commander";
import { MvmError, usageError } from "../../../core/errors.js";
import { validateTag } from "../../../core/refs.js";
import { loadRefs, updateRefs } from "../../../store/refs.js";
import type { TemplateStore } from "../../../store/templates.js";
import { printJson, printLine, success } from "../../ui/output.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";

/** `current`, a full revision hash, or a prefix that names exactly one revision on disk. */
async function revisionNamed(store: TemplateStore, name: string, given: string): Promise<string> {
  if (given === "current") {
    const rev = await store.currentRevisionId(name);
    if (!rev)
      throw new MvmError("not_found", `template ${name} has no current revision`, {
        hint: `Build it first: mvmctl build (or mvmctl template build ${name})`,
      });
    return rev;
  }
  if (!/^[0-9a-z]{4,64}$/.test(given))
    throw usageError(
      `invalid revision ${JSON.stringify(given)}: give 'current' or a revision hash (or its first characters)`,
    );
  const matches = (await store.listRevisions(name)).filter((r) => r.startsWith(given));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new MvmError("not_found", `template ${name} has no revision ${given}`);
  throw usageError(`revision ${given} is ambiguous: ${matches.map((r) => r.slice(0, 12)).join(", ")}`);
}

export function registerTag(template: Command, ctx: CliContext): void {
  template
    .command("tag")
    .description("Name a revision: set or move TAG (like git tag -f) to REV or the current revision")
    .argument("<name>", "template name", parse.name)
    .argument("<rev>", "'current', a revision hash, or its first characters")
    .argument("<tag>", "tag name: 1-128 of [A-Za-z0-9_.-]", validateTag)
    .option("--json", "print {template, tag, revision, previous} as JSON")
    .addHelpText(
      "after",
      "\nA tag names one revision of one template and moves when set again; 'mvmctl up NAME:TAG' starts it\nand 'template push' carries it to the registry.\n\nExamples:\n  mvmctl template tag web current stable\n  mvmctl up web:stable -d",
    )
    .action(async (name: string, given: string, tag: string, opts: { json?: boolean }) => {
      await ctx.store.loadSpec(name);
      const rev = await revisionNamed(ctx.store, name, given);
      const previous = await updateRefs(ctx.store, name, (refs) => {
        const old = refs.tags[tag];
        refs.tags[tag] = rev;
        return old;
      });
      if (opts.json) printJson({ template: name, tag, revision: rev, previous: previous ?? null });
      else if (previous && previous !== rev)
        success(`Moved ${name}:${tag} from ${previous.slice(0, 12)} to ${rev.slice(0, 12)}`);
      else success(`Tagged ${name}:${tag} -> ${rev.slice(0, 12)}`);
    });
}

export function registerTags(template: Command, ctx: CliContext): void {
  template
    .command("tags")
    .description("List a template's tags and the registry digests recorded for its revisions")
    .argument("<name>", "template name", parse.name)
    .option("--json", "print {template, current, tags, digests} as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      await ctx.store.loadSpec(name);
      const refs = await loadRefs(ctx.store, name);
      const current = (await ctx.store.currentRevisionId(name)) ?? null;
      if (opts.json) {
        printJson({ template: name, current, tags: refs.tags, digests: refs.digests });
        return;
      }
      const tags = Object.keys(refs.tags).sort();
      if (tags.length === 0) printLine(`${name} has no tags`);
      for (const t of tags) {
        const rev = refs.tags[t]!;
        printLine(`${t.padEnd(20)} ${rev.slice(0, 12)}${rev === current ? "  (current)" : ""}`);
      }
      for (const [d, rev] of Object.entries(refs.digests).sort()) printLine(`${d}  ${rev.slice(0, 12)}`);
    });
}

export function registerUntag(template: Command, ctx: CliContext): void {
  template
    .command("untag")
    .description("Remove a tag (the revision stays)")
    .argument("<name>", "template name", parse.name)
    .argument("<tag>", "tag name", validateTag)
    .option("--json", "print {template, tag, revision} as JSON")
    .action(async (name: string, tag: string, opts: { json?: boolean }) => {
      await ctx.store.loadSpec(name);
      const rev = await updateRefs(ctx.store, name, (refs) => {
        const old = refs.tags[tag];
        if (!old)
          throw new MvmError("not_found", `template ${name} has no tag ${tag}`, {
            hint: `List its tags with 'mvmctl template tags ${name}'.`,
          });
        delete refs.tags[tag];
        return old;
      });
      if (opts.json) printJson({ template: name, tag, revision: rev });
      else success(`Removed ${name}:${tag} (was ${rev.slice(0, 12)})`);
    });
}
