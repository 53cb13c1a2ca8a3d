import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { VERSION } from "../../src/cli/version.js";
import { nixLibraryDir } from "../../src/kit/index.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { cliFor, scratch, sha256 } from "../helpers/scratch.js";

// A scaffolded project names mvmctl's Nix library by the release's published flake and the guest kit
// by a stand-in, never by a path on this host; `mvmctl build` supplies both (--override-input) from
// this machine, offline. So the project builds from wherever it is checked out, and keeps building
// when the library it is given lives somewhere else (an upgraded or moved mvmctl) — all with real nix.

interface BuildJson {
  revision_hash: string;
  manifest: string;
  moved_from: string | null;
  log: string;
}

describe("scaffolded flakes and the inputs the build supplies", () => {
  const root = scratch("mvm-build-libref-");
  const data = join(root, "data");
  const first = join(root, "first");
  const cli = cliFor(data);
  let kits = "";

  before(async () => {
    kits = dirname((await ensureTestKit()).dir);
    mkdirSync(data, { recursive: true });
    mkdirSync(first);
    symlinkSync(kits, join(data, "kit"));
  });

  test("the flake names no host path; it builds offline, then again after the project moved", async () => {
    const init = await cli([
      "template",
      "init",
      "libref",
      "--local",
      "--offline",
      "--preset",
      "minimal",
      "--dir",
      first,
    ]);
    assert.equal(init.code, 0, init.stderr);
    const flake = readFileSync(join(first, "libref", "flake.nix"), "utf8");
    assert.doesNotMatch(flake, /path:|(url|path) = "\//, "no path on the host");
    assert.ok(
      !flake.includes(data) && !flake.includes(dirname(nixLibraryDir())),
      "no data dir, no install dir",
    );
    assert.ok(flake.includes(`mvm.url = "github:mvmctl/mvmctl/v${VERSION}?dir=nix";`), flake);

    const built = await cli(["build", "--json"], { cwd: join(first, "libref") });
    assert.equal(built.code, 0, built.stderr);
    const one = JSON.parse(built.stdout) as BuildJson;
    const log = readFileSync(one.log, "utf8");
    assert.match(log, /^offline: true$/m, "no binary cache consulted");
    assert.match(
      log,
      / --override-input mvm path:\S+\/nix --override-input mvm-kit path:\S+\/kit\/[0-9a-f]+ /,
    );
    assert.match(flake, /mvm-kit = \{ url = "github:mvmctl\/mvmctl\/v[^"]+"; flake = false; \};/);

    // Another checkout directory: the same project, moved.
    const moved = join(root, "elsewhere", "checkout");
    mkdirSync(dirname(moved));
    renameSync(join(first, "libref"), moved);
    const again = await cli(["build", "--json"], { cwd: moved });
    assert.equal(again.code, 0, again.stderr);
    const two = JSON.parse(again.stdout) as BuildJson;
    assert.equal(two.revision_hash, one.revision_hash, "the same guest");
    // flake.nix's inputs were evaluated once; the same text is not evaluated again.
    const evaluates = (logPath: string) =>
      / eval --json --file \S+flake\.nix inputs$/m.test(readFileSync(logPath, "utf8"));
    assert.ok(evaluates(one.log), "the first build evaluates flake.nix's inputs");
    assert.ok(!evaluates(two.log), "an unchanged flake.nix is not evaluated again");
    const cached = join(data, "cache", "flake-inputs", `${sha256(join(moved, "flake.nix"))}.json`);
    assert.ok(existsSync(cached), "remembered under the digest of flake.nix's text");
    // A damaged entry is not trusted: the inputs are evaluated again.
    writeFileSync(cached, "[1,2");
    const three = await cli(["build", "--json"], { cwd: moved });
    assert.equal(three.code, 0, three.stderr);
    assert.ok(evaluates((JSON.parse(three.stdout) as BuildJson).log), "evaluated again");
    assert.equal(two.manifest, join(moved, "mvm.toml"));
    assert.equal(two.moved_from, join(first, "libref", "mvm.toml"));
    const text = await cli(["build"], { cwd: moved });
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stderr, /moved from/, "said once, when it moved");

    // A second copy while the first still exists is a name clash, not a move.
    const copy = join(root, "copy");
    cpSync(moved, copy, { recursive: true });
    const clash = await cli(["build"], { cwd: copy });
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /^error: template libref already exists with another flake /m);
  });

  test("the library comes from where mvmctl is now (MVM_NIX_LIB stands for a moved install)", async () => {
    const project = join(root, "elsewhere", "checkout");
    const lib = join(root, "relocated", "nix");
    cpSync(nixLibraryDir(), lib, { recursive: true });
    const r = await cli(["build", "--rebuild", "--json"], { cwd: project, env: { MVM_NIX_LIB: lib } });
    assert.equal(r.code, 0, r.stderr);
    const log = readFileSync((JSON.parse(r.stdout) as BuildJson).log, "utf8");
    assert.ok(log.includes(` --override-input mvm path:${lib} `), log);

    const gone = await cli(["build", "--rebuild"], {
      cwd: project,
      env: { MVM_NIX_LIB: join(root, "no-such-dir") },
    });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^error: .*no-such-dir/m);
  });

  test("a data dir whose path holds a space still gives the flake its kit (by its copy in the store)", async () => {
    const spaced = join(root, "my data");
    mkdirSync(spaced);
    symlinkSync(kits, join(spaced, "kit"));
    const projects = join(root, "spaced-projects");
    mkdirSync(projects);
    const inSpaced = cliFor(spaced);
    const init = await inSpaced(["template", "init", "sp", "--local", "--offline", "--dir", projects]);
    assert.equal(init.code, 0, init.stderr);
    const r = await inSpaced(["build", "--json"], { cwd: join(projects, "sp") });
    assert.equal(r.code, 0, r.stderr);
    const log = readFileSync((JSON.parse(r.stdout) as BuildJson).log, "utf8");
    assert.match(log, / --override-input mvm-kit path:\/nix\/store\/[0-9a-z]{32}-mvm-kit /);
  });
});
