import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "..", "..", "package.json"), "utf8")) as {
    version: string;
  }
).version;

describe("the command line as a first-time user meets it", () => {
  test("no arguments: usage on stderr, nothing on stdout, exit 2", async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^Usage: mvmctl \[options\] \[command\]/);
    assert.match(r.stderr, /\btemplate\b/);
  });

  test("a command group without its subcommand is a usage error too; asking for help is not", async () => {
    const group = await runCli(["template"]);
    assert.equal(group.code, 2);
    assert.match(group.stderr, /^Usage: mvmctl template/);
    for (const args of [["--help"], ["help"], ["template", "--help"], ["help", "template"]]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: mvmctl/);
    }
  });

  test("--version and -V print the program name and the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `mvmctl ${PACKAGE_VERSION}\n`);
    }
  });

  test("completions (the original's name) is an alias of completion", async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const alias = await runCli(["completions", shell]);
      const main = await runCli(["completion", shell]);
      assert.equal(alias.code, 0, alias.stderr);
      assert.equal(alias.stdout, main.stdout);
      assert.match(alias.stdout, /create-multi/);
    }
    const bad = await runCli(["completions", "tcsh"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: unknown shell "tcsh": use bash, zsh or fish$/m);
  });
});
