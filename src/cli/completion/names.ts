import { promises as fs } from "node:fs";
import { identProblem, templateNameProblem } from "../../core/names.js";
import type { DataPaths } from "../../store/paths.js";

/** Names that exist only at run time: the scripts ask `mvmctl __complete <list>` for them. */
export const NAME_LISTS = ["templates", "vms"] as const;
export type NameList = (typeof NAME_LISTS)[number];

// The names a completion script offers: directory entries of the data dir that are valid names (so
// nothing odd ever reaches the terminal), sorted. A missing or unreadable data dir has no names.

async function entries(dir: string, valid: (name: string) => boolean): Promise<string[]> {
  const found = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return found
    .filter((e) => e.isDirectory() && !e.name.startsWith(".") && valid(e.name))
    .map((e) => e.name)
    .sort();
}

export function completionNames(paths: DataPaths, list: NameList): Promise<string[]> {
  return list === "templates"
    ? entries(paths.templates, (n) => templateNameProblem(n) === undefined)
    : entries(paths.vms, (n) => identProblem(n) === undefined);
}
