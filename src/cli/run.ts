import { CommanderError } from "commander";
import { applyConfig } from "../settings/config-file.js";
import { renderError } from "./ui/errors.js";
import { sanitize } from "./ui/sanitize.js";
import { commandWords } from "./lazy.js";
import { buildProgram } from "./program.js";

/** Parses and runs one command line; every failure is rendered here, once, with the right exit code. */
export async function runCommandLine(argv: string[]): Promise<number> {
  try {
    applyConfig();
  } catch (e) {
    // `config` and `doctor` still run, so a broken config file can be seen and repaired.
    const first = commandWords(argv)[0];
    if (first !== "config" && first !== "doctor") return renderError(e, argv.includes("--debug"));
  }
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
      const said = e.message.startsWith("error:") ? e.message : `error: ${e.message}`;
      process.stderr.write(
        `${said
          .split("\n")
          .map((l) => sanitize(l))
          .join("\n")}\n`,
      );
      return 2;
    }
    return renderError(e, ctx.debug);
  }
}

/** Renders an error that escaped the command line itself. */
export function renderFatal(e: unknown, argv: string[]): number {
  return renderError(e, argv.includes("--debug"));
}
