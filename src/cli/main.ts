#!/usr/bin/env node
import { CommanderError } from "commander";
import { renderError } from "../ui/errors.js";
import { applyConfig } from "../settings/config-file.js";
import { commandWords } from "./lazy.js";
import { sanitize } from "../ui/sanitize.js";
import { buildProgram } from "./program.js";

// A reader that goes away (`mvmctl … | head`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

// Entry point: parse, run, and render every failure in one place with the right exit code.
async function main(argv: string[]): Promise<number> {
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

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.exitCode = renderError(e, process.argv.includes("--debug"));
  },
);
