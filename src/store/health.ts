import { MvmError, messageOf } from "../core/errors.js";
import type { CurrentRevision, TemplateStore } from "./templates.js";

// The one notion of a template's health, used by every command that looks at a template's current
// revision (list, info, verify, up, build --snapshot), so a broken template reads the same
// everywhere:
//   ready      `current` names a revision directory with a readable revision.json
//   not_built  no `current` yet
//   broken     `current` exists but cannot be used; `problem` says why in one line

export type TemplateHealthStatus = "ready" | "not_built" | "broken";

export interface TemplateHealth {
  status: TemplateHealthStatus;
  /** Why the template is broken or not built (one line, no trailing period). */
  problem?: string;
  /** What to run about it. */
  hint?: string;
  /** The current revision, when its directory exists (status ready: with its revision.json). */
  current?: CurrentRevision;
}

export async function templateHealth(store: TemplateStore, name: string): Promise<TemplateHealth> {
  const rebuild = `Rebuild it with 'mvmctl template build ${name} --force'.`;
  const broken = (problem: string, current?: CurrentRevision): TemplateHealth => ({
    status: "broken",
    problem,
    hint: rebuild,
    ...(current ? { current } : {}),
  });
  let rev: string | undefined;
  try {
    rev = await store.currentRevisionId(name);
  } catch (e) {
    return broken(messageOf(e));
  }
  if (!rev)
    return {
      status: "not_built",
      problem: `template ${name} has not been built`,
      hint: `Build it with 'mvmctl template build ${name} --snapshot'.`,
    };
  const dir = await store.revisionDir(name, rev);
  if (!dir) return broken(`template ${name}: current points at revision ${rev}, which is missing`);
  const layout = dir === store.paths.revision(name, rev) ? "current" : "legacy";
  let current: CurrentRevision;
  try {
    const revision = await store.loadRevisionAt(dir);
    current = { rev, dir, revision, layout };
  } catch (e) {
    return broken(`template ${name}: revision ${rev}: ${messageOf(e)}`, {
      rev,
      dir,
      revision: undefined,
      layout,
    });
  }
  if (!current.revision) return broken(`template ${name}: revision ${rev} has no revision.json`, current);
  return { status: "ready", current };
}

/** The error a command that needs a usable current revision fails with (up, build --snapshot). */
export function unhealthyError(h: TemplateHealth): MvmError {
  return new MvmError(h.status === "not_built" ? "not_found" : "corrupt", h.problem ?? "template is broken", {
    ...(h.hint ? { hint: h.hint } : {}),
  });
}
