import assert from "node:assert/strict";
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, readJson, scratch } from "../helpers/scratch.js";

// `mvmctl build` from an mvm.toml: found by walking up, creates then updates the template, the drift
// rule, and the errors a hand-edited manifest gets. Real nix, offline, with a busybox-built flake.

function manifest(fields: Record<string, string | number>): string {
  return `${Object.entries(fields)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join("\n")}\n`;
}

describe("mvmctl build from mvm.toml", () => {
  const root = scratch("mvm-manifest-");
  const data = join(root, "data");
  const project = join(root, "web");
  const deep = join(project, "src", "deep");
  const cli = cliFor(data);
  const write = (fields: Record<string, string | number>) =>
    writeFileSync(join(project, "mvm.toml"), manifest(fields));

  before(() => {
    writeFakeFlake(project, { nonce: nonce(), packages: { default: {}, other: { salt: "other" } } });
    mkdirSync(deep, { recursive: true });
  });

  test("from a subdirectory: finds mvm.toml above, creates the template, builds it", async () => {
    write({ name: "web", vcpus: 1, mem: "512M" });
    const r = await cli(["build", "--json"], { cwd: deep });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.manifest, join(realpathSync(project), "mvm.toml"));
    assert.equal(out.created, true);
    assert.equal(out.template, "web");
    const spec = readJson(join(data, "templates", "web", "template.json"));
    assert.equal(spec.flake_ref, realpathSync(project), "a relative flake is relative to the manifest");
    assert.equal(spec.mem_mib, 512);
    assert.equal(spec.vcpus, 1);
    const info = await cli(["template", "info", "web"]);
    assert.match(info.stdout, new RegExp(`^ {2}Manifest: ${join(realpathSync(project), "mvm.toml")}$`, "m"));
  });

  test("sizing changes apply to the existing template", async () => {
    write({ name: "web", vcpus: 2, mem: "1G" });
    const r = await cli(["build", project, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.created, false);
    assert.deepEqual(out.changed, ["vcpus", "mem_mib"]);
    assert.equal(out.cached, true, "same flake, same output: the revision is reused");
    const spec = readJson(join(data, "templates", "web", "template.json"));
    assert.equal(spec.mem_mib, 1024);
    assert.equal(spec.vcpus, 2);
  });

  test("a changed profile needs --force, and nothing changes without it", async () => {
    write({ name: "web", vcpus: 2, mem: "1G", profile: "other" });
    const refused = await cli(["build"], { cwd: project });
    assert.equal(refused.code, 1);
    assert.deepEqual(errorLines(refused.stderr), [
      "error: template web already exists with another profile default -> other",
    ]);
    assert.match(refused.stderr, /--force/);
    assert.equal(readJson(join(data, "templates", "web", "template.json")).profile, "default");
    const forced = await cli(["build", "--force", "--json"], { cwd: project });
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(JSON.parse(forced.stdout).changed, ["profile"]);
    assert.equal(readJson(join(data, "templates", "web", "template.json")).profile, "other");
  });

  test("-f names a manifest; a bad key is a usage error with its line, nothing written", async () => {
    const other = join(root, "other.toml");
    writeFileSync(other, `name = "typo"\nflake = ${JSON.stringify(project)}\nmemory = "1G"\n`);
    const r = await cli(["build", "-f", other]);
    assert.equal(r.code, 2);
    assert.deepEqual(errorLines(r.stderr), [`error: ${other}:3: memory: unknown key "memory"`]);
    assert.doesNotMatch(r.stderr, /at .*\.js/, "no stack trace");
    const list = await cli(["template", "list", "--json"]);
    assert.doesNotMatch(list.stdout, /typo/);
  });

  test("the walk stops at the project's .git", async () => {
    const outer = join(root, "outer");
    const repo = join(outer, "repo");
    mkdirSync(join(repo, ".git"), { recursive: true });
    mkdirSync(join(repo, "sub"), { recursive: true });
    writeFileSync(join(outer, "mvm.toml"), manifest({ name: "outside" }));
    const r = await cli(["build"], { cwd: join(repo, "sub") });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [
      `error: no mvm.toml in ${join(repo, "sub")} or above it (up to the project's .git)`,
    ]);
  });

  test("a newer schema_version says to upgrade mvmctl", async () => {
    const dir = join(root, "future");
    mkdirSync(dir);
    writeFileSync(join(dir, "mvm.toml"), 'schema_version = 7\nname = "future"\n');
    const r = await cli(["build", dir]);
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0] ?? "", /mvm\.toml:1: schema_version 7 is newer .*: upgrade mvmctl$/);
    assert.equal(readFileSync(join(dir, "mvm.toml"), "utf8"), 'schema_version = 7\nname = "future"\n');
  });

  test("up: no template and no mvm.toml is a usage error; the template is given once", async () => {
    const empty = join(root, "empty");
    mkdirSync(join(empty, ".git"), { recursive: true });
    const none = await cli(["up"], { cwd: empty });
    assert.equal(none.code, 2);
    assert.match(errorLines(none.stderr)[0] ?? "", /^error: no template given and no mvm\.toml in /);
    const twice = await cli(["up", "web", "--template", "web"]);
    assert.equal(twice.code, 2);
    assert.deepEqual(errorLines(twice.stderr), [
      "error: give the template once: either 'web' or --template web",
    ]);
  });
});
