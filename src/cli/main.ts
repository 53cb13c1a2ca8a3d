#!/usr/bin/env node
// The entry point stays small: `--version` answers from here without loading the command parser or any
// command, and everything else loads only the command being run (see program.ts).
import { VERSION } from "./version.js";

// A reader that goes away (`mvmctl … | head`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

/** `mvmctl --version` (or `-V`) on its own, with at most the global flags that do not change it. */
function asksOnlyForVersion(args: string[]): boolean {
  const rest = args.filter((a) => a !== "--debug" && a !== "--no-color");
  return rest.length === 1 && (rest[0] === "--version" || rest[0] === "-V");
}

async function main(argv: string[]): Promise<number> {
  if (asksOnlyForVersion(argv.slice(2))) {
    process.stdout.write(`mvmctl ${VERSION}\n`);
    return 0;
  }
  const { runCommandLine, renderFatal } = await import("./run.js");
  try {
    return await runCommandLine(argv);
  } catch (e) {
    return renderFatal(e, argv);
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    // Only reached when the CLI's own modules cannot be loaded (a broken install).
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
