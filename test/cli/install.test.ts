import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/cli/version.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit } from "../helpers/fixtures.js";

// The package as users install it: `npm pack`, then `npm install -g` of the tarball into a clean
// prefix (dependencies from npm's cache, no network), then the installed command runs the quick
// start: --version, `template init`, and a real offline `mvmctl build` that uses the Nix library
// shipped in the package.

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "..", "..", "..");
const root = tempDir("mvm-install-");

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test("the packed tarball installs globally into a clean prefix and runs the quick start", async () => {
  // dist/ is built already (the test runs from it), so packing skips the prepare script.
  const packed = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", root], {
    cwd: repo,
    maxBuffer: 64 << 20,
  });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const paths = info!.files.map((f) => f.path);
  assert.ok(paths.includes("dist/src/cli/main.js"));
  assert.ok(paths.includes("nix/flake.nix"), "the Nix library ships");
  assert.ok(paths.includes("nix/guest/agent/main.c"), "the guest sources ship, under nix/");
  assert.ok(!paths.some((p) => p.startsWith("guest/")), "nix/ ships once: no duplicate guest/");
  assert.ok(!paths.some((p) => p.startsWith("dist/test/") || p.startsWith("src/")), "no tests or sources");
  const manifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
  assert.equal(manifest.scripts.prepare, "node scripts/prepare.mjs", "a git install builds dist/");
  assert.ok(manifest.engines.node, "engines says which Node it needs");

  const prefix = join(root, "prefix");
  await run(
    "npm",
    ["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", join(root, info!.filename)],
    { cwd: root, maxBuffer: 64 << 20 },
  );
  const bin = join(prefix, "bin", "mvmctl");
  assert.ok(existsSync(bin));
  const data = join(root, "data");
  mkdirSync(data);
  const kit = await ensureTestKit();
  symlinkSync(dirname(kit.dir), join(data, "kit"));
  const env = {
    ...process.env,
    MVM_DATA_DIR: data,
    NO_COLOR: "1",
    PATH: `${dirname(bin)}:${process.env.PATH}`,
  };
  const version = await run(bin, ["--version"], { env });
  assert.equal(version.stdout.trim(), `mvmctl ${VERSION}`);

  const projects = join(root, "projects");
  mkdirSync(projects);
  await run(
    bin,
    ["template", "init", "demo", "--local", "--offline", "--preset", "http", "--dir", projects],
    { env },
  );
  assert.match(readFileSync(join(projects, "demo", "mvm.toml"), "utf8"), /^name = "demo"$/m);
  const built = await run(bin, ["build", "--json"], {
    env,
    cwd: join(projects, "demo"),
    maxBuffer: 64 << 20,
  });
  const out = JSON.parse(built.stdout);
  assert.equal(out.template, "demo");
  assert.match(out.revision_hash, /^[0-9a-z]{32}$/);
});
