import { Command } from "commander";
import { registerCompletion } from "./commands/completion.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerKit } from "./commands/kit.js";
import { registerDown } from "./commands/down.js";
import { registerLogs } from "./commands/logs.js";
import { registerLs } from "./commands/ls.js";
import { registerUp } from "./commands/up.js";
import { registerTemplate } from "./commands/template/index.js";
import { CliContext } from "./context.js";
import { VERSION } from "./version.js";

/** Builds the command tree. Each command lives in its own file under commands/. */
export function buildProgram(): { program: Command; ctx: CliContext } {
  const ctx = new CliContext();
  const program = new Command("mvmctl")
    .description("Turn a Nix flake into a microVM template: build, snapshot, run, push, pull, verify.")
    .version(VERSION, "-V, --version")
    .option("--debug", "print stack traces on errors")
    .option("--no-color", "disable coloured output")
    .exitOverride()
    .configureOutput({
      // Commander prints its own errors; we print them once, in our format, in main.ts.
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .enablePositionalOptions(false);
  program.hook("preAction", (cmd) => {
    if (cmd.optsWithGlobals().color === false) process.env.MVM_NO_COLOR = "1";
  });
  registerTemplate(program, ctx);
  registerDoctor(program, ctx);
  registerKit(program, ctx);
  registerUp(program, ctx);
  registerLs(program, ctx);
  registerDown(program, ctx);
  registerLogs(program, ctx);
  registerCompletion(program, ctx);
  return { program, ctx };
}
