import type { Command } from "commander";
import type { CliContext, Register } from "../../context.js";
import { commandWords, type LazyCommand, loadSelected } from "../../lazy.js";

/**
 * `mvmctl template …`: one file per subcommand; add new ones to this list (names first, aliases after).
 * Only the subcommand being run is loaded, so a quick command does not pay for loading nix, VM and
 * registry code; help and unknown names load them all.
 */
const SUBCOMMANDS: LazyCommand[] = [
  { names: ["create", "new"], load: async () => [(await import("./create.js")).registerCreate] },
  { names: ["create-multi"], load: async () => [(await import("./create.js")).registerCreateMulti] },
  { names: ["list", "ls"], load: async () => [(await import("./list.js")).registerList] },
  { names: ["info"], load: async () => [(await import("./info.js")).registerInfo] },
  { names: ["edit"], load: async () => [(await import("./edit.js")).registerEdit] },
  { names: ["delete", "rm"], load: async () => [(await import("./delete.js")).registerDelete] },
  { names: ["init"], load: async () => [(await import("./init.js")).registerInit] },
  { names: ["build"], load: async () => [(await import("./build.js")).registerBuild] },
  { names: ["bench"], load: async () => [(await import("./bench.js")).registerBench] },
  { names: ["prune"], load: async () => [(await import("./prune.js")).registerPrune] },
  { names: ["tag"], load: async () => [(await import("./tag.js")).registerTag] },
  { names: ["tags"], load: async () => [(await import("./tag.js")).registerTags] },
  { names: ["untag"], load: async () => [(await import("./tag.js")).registerUntag] },
  { names: ["push"], load: async () => [(await import("./push.js")).registerPush] },
  { names: ["pull"], load: async () => [(await import("./pull.js")).registerPull] },
  { names: ["verify"], load: async () => [(await import("./verify.js")).registerVerify] },
];

export async function registerTemplate(
  program: Command,
  ctx: CliContext,
  argv: string[] = [],
): Promise<void> {
  const template = program
    .command("template")
    .description("Manage templates: build flakes into microVM images and snapshots, and share them")
    .exitOverride();
  const words = commandWords(argv);
  const sub = words[0] === "template" ? words[1] : undefined;
  const registers: Register[] = await loadSelected(SUBCOMMANDS, sub);
  for (const register of registers) register(template, ctx);
}
