import { Command } from "commander";
import { CliContext } from "./context.js";
import { commandWords, type LazyCommand, loadSelected } from "./lazy.js";
import { VERSION } from "./version.js";

/** Builds the command tree for `argv`. Each command lives in its own file under commands/. */
export async function buildProgram(
  argv: string[] = process.argv,
): Promise<{ program: Command; ctx: CliContext }> {
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
  // Top-level commands, each in its own file under commands/; only the one being run is loaded.
  const table: LazyCommand[] = [
    {
      names: ["template"],
      load: async () => {
        const { registerTemplate } = await import("./commands/template/index.js");
        return [(p, c) => registerTemplate(p, c, argv)];
      },
    },
    { names: ["build"], load: async () => [(await import("./commands/build.js")).registerManifestBuild] },
    { names: ["config"], load: async () => [(await import("./commands/config.js")).registerConfig] },
    { names: ["doctor"], load: async () => [(await import("./commands/doctor.js")).registerDoctor] },
    { names: ["kit"], load: async () => [(await import("./commands/kit.js")).registerKit] },
    { names: ["up", "run", "start"], load: async () => [(await import("./commands/up.js")).registerUp] },
    { names: ["ls"], load: async () => [(await import("./commands/ls.js")).registerLs] },
    { names: ["down"], load: async () => [(await import("./commands/down.js")).registerDown] },
    { names: ["logs"], load: async () => [(await import("./commands/logs.js")).registerLogs] },
    {
      names: ["completion"],
      load: async () => [(await import("./commands/completion.js")).registerCompletion],
    },
  ];
  const first = commandWords(argv)[0];
  // `completion` prints the whole tree, so it loads every command like help does.
  const registers = await loadSelected(table, first === "completion" ? undefined : first);
  for (const register of registers) await register(program, ctx);
  return { program, ctx };
}
