import type { Register } from "./context.js";

/** A command (or subcommand) whose module is imported only when it is needed. */
export interface LazyCommand {
  /** Its name and aliases. */
  names: string[];
  load: () => Promise<Register[]>;
}

/** The words of the command line that are not options (global options take no values). */
export function commandWords(argv: string[]): string[] {
  return argv.slice(2).filter((a) => !a.startsWith("-"));
}

/**
 * The register functions to run: only the named command's when the name is known, else every command's
 * (help, completion and unknown names need the whole tree), in table order.
 */
export async function loadSelected(table: LazyCommand[], name: string | undefined): Promise<Register[]> {
  const wanted = table.find((c) => name !== undefined && c.names.includes(name));
  const loaded = await Promise.all((wanted ? [wanted] : table).map((c) => c.load()));
  return loaded.flat();
}
