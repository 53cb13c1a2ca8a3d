import { CommanderError } from "commander";
import { renderError } from "../ui/errors.js";
import { buildProgram } from "./program.js";

/** Parses and runs one command line; every failure is rendered here, once, with the right exit code. */
export async function runCommandLine(argv: string[]): Promise<number> {
  const { program, ctx } = await buildProgram(argv);
  ctx.debug = argv.includes("--debug");
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      // Help asked for (`--help`, `help`) succeeds; usage printed because a command word is missing
      // (`mvmctl`, `mvmctl template`) is a usage error.
      if (e.code === "commander.help") return e.exitCode === 0 ? 0 : 2;
      // Commander's messages already read "error: …"; usage problems exit 2.
      process.stderr.write(`${e.message.startsWith("error:") ? e.message : `error: ${e.message}`}\n`);
      return 2;
    }
    return renderError(e, ctx.debug);
  }
}

/** Renders an error that escaped the command line itself. */
export function renderFatal(e: unknown, argv: string[]): number {
  return renderError(e, argv.includes("--debug"));
}
