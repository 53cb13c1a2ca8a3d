import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

// One notion of template health: a `current` that points at a revision that is not there reads the
// same in list, info, verify and up (the same words, "broken", and a hint to rebuild), while a
// template that was never built reads as not built everywhere.

const GONE = "0123456789abcdfghijklmnpqrsvwxyz";

async function setUp(): Promise<string> {
  const data = tempDir();
  const flake = tempDir("mvm-flake-");
  for (const name of ["web", "fresh"]) {
    const r = await runCli(["template", "create", name, "--flake", flake], { dataDir: data });
    assert.equal(r.code, 0, r.stderr);
  }
  mkdirSync(join(data, "templates", "web", "artifacts", "revisions"), { recursive: true });
  symlinkSync(`artifacts/revisions/${GONE}`, join(data, "templates", "web", "current"));
  return data;
}

test("a current pointing at a missing revision is 'broken' with the same reason in list, info, verify and up", async () => {
  const data = await setUp();
  const problem = `template web: current points at revision ${GONE}, which is missing`;
  const cli = (args: string[]) => runCli(args, { dataDir: data });

  const list = await cli(["template", "list"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^ {2}web\\s+broken: ${problem}$`, "m"));
  assert.match(list.stdout, /^ {2}fresh\s+\(not built\)$/m);
  const listJson = JSON.parse((await cli(["template", "list", "--json"])).stdout) as {
    templates: Array<{ name: string; status: string; problem: string | null }>;
  };
  assert.deepEqual(
    listJson.templates.map((t) => [t.name, t.status, t.problem]),
    [
      ["fresh", "not_built", null],
      ["web", "broken", problem],
    ],
  );

  const info = await cli(["template", "info", "web"]);
  assert.equal(info.code, 1, "info shows a broken template and fails");
  assert.match(info.stderr, new RegExp(`^error: ${problem}$`, "m"));
  assert.match(info.stdout, new RegExp(`^Revision: broken: ${problem}$`, "m"));
  assert.match(info.stdout, /mvmctl template build web --force/);
  const infoJson = JSON.parse((await cli(["template", "info", "web", "--json"])).stdout) as {
    status: string;
    problem: string;
  };
  assert.deepEqual([infoJson.status, infoJson.problem], ["broken", problem]);

  for (const args of [
    ["template", "verify", "web"],
    ["up", "--template", "web", "-d"],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error: ${problem}$`, "m"), args.join(" "));
    assert.match(r.stderr, /mvmctl template build web --force/, args.join(" "));
  }
});

test("a template never built reads 'not built' in info, verify and up alike", async () => {
  const data = await setUp();
  const cli = (args: string[]) => runCli(args, { dataDir: data });
  const info = await cli(["template", "info", "fresh", "--json"]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal((JSON.parse(info.stdout) as { status: string }).status, "not_built");
  for (const args of [
    ["template", "verify", "fresh"],
    ["up", "--template", "fresh", "-d"],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^error: template fresh has not been built$/m, args.join(" "));
  }
});
