import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/cli/version.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit } from "../helpers/fixtures.js";

// The package as users install it: `npm pack`, then `npm install -g` of the tarball into a clean
// prefix (dependencies from npm's cache, no network). With a PATH that holds only that install and
// the system's tools, the installed command runs README's quick start — the very steps
// `scripts/quickstart.sh` runs (init, create, build --snapshot, up, HTTP, down, push, delete, pull,
// verify, up, HTTP, down; one guest boot, for the snapshot). Then mvmctl moves: the same tarball
// is installed into another prefix, the first one is removed, and the quick start's project still
// builds, because its flake names no path of the old install.

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "..", "..", "..");
const root = tempDir("mvm-install-");
/** The system's tool directories (node, nix, QEMU, mke2fs…), none of which holds an mvmctl. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function installInto(prefix: string, tarball: string): Promise<string> {
  await run("npm", ["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tarball], {
    cwd: root,
    maxBuffer: 64 << 20,
  });
  const bin = join(prefix, "bin", "mvmctl");
  assert.ok(existsSync(bin), `${bin} installed`);
  return bin;
}

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
  const tarball = join(root, info!.filename);

  const bin = await installInto(join(root, "prefix"), tarball);
  const data = join(root, "data");
  mkdirSync(data);
  // The guest kit is built from this host's packages once per machine: share the test cache's.
  const kit = await ensureTestKit();
  symlinkSync(dirname(kit.dir), join(data, "kit"));
  const work = join(root, "tmp");
  const config = join(root, "config");
  mkdirSync(work);
  mkdirSync(config);
  const env = {
    HOME: process.env.HOME,
    MVM_DATA_DIR: data,
    NO_COLOR: "1",
    CI: "1",
    PATH: `${dirname(bin)}:${SYSTEM_PATH}`,
    TMPDIR: work,
    XDG_CONFIG_HOME: config,
  };
  const which = await run("sh", ["-c", "command -v mvmctl"], { env });
  assert.equal(which.stdout.trim(), bin, "the only mvmctl on PATH is the installed one");
  const version = await run("mvmctl", ["--version"], { env });
  assert.equal(version.stdout.trim(), `mvmctl ${VERSION}`);

  // README's quick start, with the installed command.
  const steps = join(repo, "dist", "scripts", "quickstart-steps.js");
  const quick = await run(process.execPath, [steps], {
    env: { ...env, MVM_QUICKSTART_BIN: "mvmctl" },
    maxBuffer: 64 << 20,
    timeout: 1_200_000,
  }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`the quick start failed:\n${e.stdout ?? ""}\n${e.stderr ?? e.message}`);
  });
  assert.match(quick.stdout, /^ {2}all steps passed in /m, quick.stdout);
  assert.match(quick.stdout, /command mvmctl\)$/m);
  assert.match(quick.stdout, /^ {4}ok .* mode=restore ready in \d+ ms$/m);

  // mvmctl moves: installed elsewhere, the old install removed. The project still builds.
  const [quickWork] = readdirSync(work).filter((d) => d.startsWith("mvm-quickstart-"));
  assert.ok(quickWork, "the quick start's work dir");
  const project = join(work, quickWork, "demo");
  const moved = await installInto(join(root, "prefix2"), tarball);
  await rm(join(root, "prefix"), { recursive: true, force: true });
  const movedEnv = { ...env, PATH: `${dirname(moved)}:${SYSTEM_PATH}` };
  const built = await run("mvmctl", ["build", "--json"], {
    env: movedEnv,
    cwd: project,
    maxBuffer: 64 << 20,
  });
  const out = JSON.parse(built.stdout) as { template: string; revision_hash: string; log: string };
  assert.equal(out.template, "demo");
  assert.match(out.revision_hash, /^[0-9a-z]{32}$/);
  const log = readFileSync(out.log, "utf8");
  assert.ok(log.includes(` --override-input mvm path:${join(root, "prefix2")}/`), log);
});
