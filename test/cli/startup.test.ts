import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { CLI, tempDir } from "../helpers/cli.js";

const RECORDER = resolve(import.meta.dirname, "..", "helpers", "module-log.js");

/** Runs the CLI and returns what it printed and the files of every module it loaded, relative to dist/. */
function modulesLoadedBy(args: string[]): { stdout: string; code: number | null; modules: string[] } {
  const dir = tempDir("mvm-startup-");
  const log = join(dir, "modules.log");
  const r = spawnSync(process.execPath, ["--import", RECORDER, CLI, ...args], {
    env: { ...process.env, MVM_TEST_MODULE_LOG: log, MVM_DATA_DIR: join(dir, "data"), NO_COLOR: "1" },
    encoding: "utf8",
  });
  const dist = `${resolve(import.meta.dirname, "..", "..")}/`;
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((u) => u !== "")
    .map((u) => decodeURIComponent(new URL(u).pathname))
    .filter((p) => p !== RECORDER && !p.endsWith("/module-log-hooks.js"))
    .map((p) => (p.startsWith(dist) ? p.slice(dist.length) : p));
  rmSync(dir, { recursive: true, force: true });
  return { stdout: r.stdout, code: r.status, modules };
}

describe("start-up loads only what the command line needs", () => {
  test("--version loads neither the command parser nor any command", () => {
    for (const args of [["--version"], ["-V"], ["--no-color", "--version"]]) {
      const r = modulesLoadedBy(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^mvmctl \d+\.\d+\.\d+/);
      assert.deepEqual(r.modules.sort(), ["src/cli/main.js", "src/cli/version.js"], args.join(" "));
    }
  });
});
