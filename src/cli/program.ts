import { Command } from "commander";
import { dataDirOrigin, ensureDataDir } from "../host/data-dir.js";
import { CliContext } from "./context.js";
import { commandWords, type LazyCommand, loadSelected } from "./lazy.js";
import { VERSION } from "./version.js";

/**
 * Commands that run without the data dir: completion scripts and the name lists they ask for must stay
 * silent and quick, and doctor reports an unusable data dir as one of its checks.
 */
const WITHOUT_DATA_DIR = new Set(["completion", "__complete", "doctor"]);

function topLevelName(cmd: Command): string {
  let c = cmd;
  while (c.parent?.parent) c = c.parent;
  return c.name();
}

/** Builds the command tree for `argv`. Each command lives in its own file under commands/. */
export async function buildProgram(
  argv: string[] = process.argv,
): Promise<{ program: Command; ctx: CliContext }> {
  const ctx = new CliContext();
  const program = new Command("mvmctl")
    .description("Turn a Nix flake into a microVM template: build, snapshot, run, push, pull, verify.")
    .version(`mvmctl ${VERSION}`, "-V, --version", "print mvmctl and its version")
    .option("--debug", "print stack traces on errors")
    .option("--no-color", "disable coloured output")
    .exitOverride()
    .configureOutput({
      // Commander prints its own errors; we print them once, in our format, in main.ts.
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .enablePositionalOptions(false);
  program.hook("preAction", async (_program, action) => {
    if (action.optsWithGlobals().color === false) process.env.MVM_NO_COLOR = "1";
    // An unusable data dir fails here, in one line, before any command reads or writes under it.
    if (!WITHOUT_DATA_DIR.has(topLevelName(action))) await ensureDataDir(ctx.paths.root, dataDirOrigin());
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
    { names: ["exec"], load: async () => [(await import("./commands/exec.js")).registerExec] },
    { names: ["cp"], load: async () => [(await import("./commands/cp.js")).registerCp] },
    { names: ["ps"], load: async () => [(await import("./commands/ps.js")).registerPs] },
    { names: ["serve"], load: async () => [(await import("./commands/serve.js")).registerServe] },
    {
      names: ["completion", "completions"],
      load: async () => [(await import("./commands/completion.js")).registerCompletion],
    },
    {
      names: ["__complete"],
      load: async () => [(await import("./commands/complete-names.js")).registerCompleteNames],
    },
  ];
  const first = commandWords(argv)[0];
  // A completion script describes the whole tree, so `completion` loads every command like help does.
  const wholeTree = first === "completion" || first === "completions";
  const registers = await loadSelected(table, wholeTree ? undefined : first);
  for (const register of registers) await register(program, ctx);
  return { program, ctx };
}
