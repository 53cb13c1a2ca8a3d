// Module loader hooks that append the URL of every module the process loads to a file, one per line.
// Registered by module-log.ts; used to check what a command loads.
import { appendFileSync } from "node:fs";

let logFile: string | undefined;

export function initialize(data: { logFile: string }): void {
  logFile = data.logFile;
}

export async function load(
  url: string,
  context: object,
  nextLoad: (url: string, context: object) => Promise<unknown>,
): Promise<unknown> {
  if (logFile && url.startsWith("file:")) appendFileSync(logFile, `${url}\n`);
  return nextLoad(url, context);
}
