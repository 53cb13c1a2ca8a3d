import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CliResult } from "./cli.js";
import { ensureTestKit } from "./fixtures.js";

// The set-up the end-to-end VM tests share: a data dir that uses the cached guest kit, and a
// template made by the real CLI from an offline preset (`template init --offline` + `create`).

export interface OfflineTemplate {
  data: string;
  /** Where `template init` wrote the project. */
  proj: string;
  name: string;
  preset: "http" | "worker" | "minimal";
  memMib: number;
  cpus: number;
  /** Rewrites the generated flake.nix before the template is created. */
  editFlake?: (text: string) => string;
}

/** Links the test kit into `data`, then inits and creates the template; returns its flake dir. */
export async function createOfflineTemplate(
  cli: (args: string[]) => Promise<CliResult>,
  t: OfflineTemplate,
): Promise<string> {
  const kit = await ensureTestKit();
  mkdirSync(t.data, { recursive: true });
  mkdirSync(t.proj, { recursive: true });
  symlinkSync(dirname(kit.dir), join(t.data, "kit"));
  const init = await cli([
    "template",
    "init",
    t.name,
    "--local",
    "--offline",
    "--preset",
    t.preset,
    "--dir",
    t.proj,
  ]);
  assert.equal(init.code, 0, init.stderr);
  const flakeDir = join(t.proj, t.name);
  if (t.editFlake) {
    const flake = join(flakeDir, "flake.nix");
    writeFileSync(flake, t.editFlake(readFileSync(flake, "utf8")));
  }
  const create = await cli([
    "template",
    "create",
    t.name,
    "--flake",
    flakeDir,
    "--mem",
    String(t.memMib),
    "--cpus",
    String(t.cpus),
  ]);
  assert.equal(create.code, 0, create.stderr);
  return flakeDir;
}
