import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { registerBench } from "./bench.js";
import { registerBuild } from "./build.js";
import { registerCreate, registerCreateMulti } from "./create.js";
import { registerDelete } from "./delete.js";
import { registerEdit } from "./edit.js";
import { registerInfo } from "./info.js";
import { registerInit } from "./init.js";
import { registerList } from "./list.js";
import { registerPrune } from "./prune.js";
import { registerPull } from "./pull.js";
import { registerPush } from "./push.js";
import { registerVerify } from "./verify.js";

/** `mvmctl template …`: one file per subcommand; add new ones to this list. */
export function registerTemplate(program: Command, ctx: CliContext): void {
  const template = program
    .command("template")
    .description("Manage templates: build flakes into microVM images and snapshots, and share them")
    .exitOverride();
  for (const register of [
    registerCreate,
    registerCreateMulti,
    registerList,
    registerInfo,
    registerEdit,
    registerDelete,
    registerInit,
    registerBuild,
    registerBench,
    registerPrune,
    registerPush,
    registerPull,
    registerVerify,
  ])
    register(template, ctx);
}
