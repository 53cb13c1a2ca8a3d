import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readlinkSync, symlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/cli/version.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit } from "../helpers/fixtures.js";

// Installing from git, as README says: `npm install -g git+<url>#v<version>` of a release tag that
// scripts/release-commit.mjs made (dist/ built in, no scripts), and `npm install -g <checkout>` of a
// built checkout. A git branch cannot be installed globally by npm (it links the install to its
// temporary clone), so the package's prepare script refuses that with the ways that work, leaving
// nothing installed. The git URL is a local bare repository cloned from this checkout's HEAD;
// dependencies come from npm's cache (no network).

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "..", "..", "..");
const root = tempDir("mvm-git-install-");
const GIT_ID = {
  GIT_AUTHOR_NAME: "mvm test",
  GIT_AUTHOR_EMAIL: "test@mvm.invalid",
  GIT_COMMITTER_NAME: "mvm test",
  GIT_COMMITTER_EMAIL: "test@mvm.invalid",
};

function npmGlobal(prefix: string, spec: string, extra: string[] = []) {
  return run(
    "npm",
    ["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", ...extra, spec],
    { cwd: root, maxBuffer: 64 << 20, timeout: 900_000 },
  );
}

describe("installing from git", () => {
  const clone = join(root, "clone");
  const bare = join(root, "mvmctl.git");

  before(async () => {
    await run("git", ["clone", "-q", "--no-hardlinks", repo, clone]);
    // The release is compiled with the project's TypeScript.
    symlinkSync(join(repo, "node_modules"), join(clone, "node_modules"));
    await run("git", ["clone", "-q", "--bare", clone, bare]);
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("a release tag installs globally and works (--help, init, an offline build); so does a built checkout", async () => {
    const made = await run(process.execPath, ["scripts/release-commit.mjs", "--tag", `v${VERSION}`], {
      cwd: clone,
      env: { ...process.env, ...GIT_ID },
      maxBuffer: 16 << 20,
    });
    const commit = made.stdout.trim();
    assert.match(commit, /^[0-9a-f]{40}$/);
    const shipped = JSON.parse(
      (await run("git", ["-C", clone, "show", `v${VERSION}:package.json`])).stdout,
    ) as Record<string, unknown>;
    assert.equal(shipped.scripts, undefined, "no scripts: npm installs it without preparing it");
    await run("git", ["-C", clone, "push", "-q", bare, `refs/tags/v${VERSION}`]);

    const prefix = join(root, "prefix");
    await npmGlobal(prefix, `git+file://${bare}#v${VERSION}`);
    const pkg = join(prefix, "lib", "node_modules", "mvmctl");
    assert.ok(existsSync(join(pkg, "dist", "src", "cli", "main.js")));
    assert.ok(existsSync(join(pkg, "nix", "flake.nix")));
    const bin = join(prefix, "bin", "mvmctl");
    const help = await run(bin, ["--help"]);
    assert.match(help.stdout, /^Usage: mvmctl /m);

    const data = join(root, "data");
    mkdirSync(data);
    symlinkSync(dirname((await ensureTestKit()).dir), join(data, "kit"));
    const env = { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1", XDG_CONFIG_HOME: join(root, "cfg") };
    const projects = join(root, "projects");
    mkdirSync(projects);
    await run(bin, ["template", "init", "fromgit", "--local", "--offline", "--dir", projects], { env });
    const built = await run(bin, ["build", "--json"], {
      env,
      cwd: join(projects, "fromgit"),
      maxBuffer: 64 << 20,
    });
    assert.match((JSON.parse(built.stdout) as { revision_hash: string }).revision_hash, /^[0-9a-z]{32}$/);

    // `npm install -g <checkout>` of a built checkout (npm ci && npm run build) links to it.
    const linked = join(root, "prefix-checkout");
    await npmGlobal(linked, repo);
    const link = join(linked, "lib", "node_modules", "mvmctl");
    assert.equal(resolve(dirname(link), readlinkSync(link)), repo);
    assert.match((await run(join(linked, "bin", "mvmctl"), ["--help"])).stdout, /^Usage: mvmctl /m);
  });

  test("a git branch is refused with the ways that work, and nothing is installed", async () => {
    const prefix = join(root, "prefix-branch");
    const r = await npmGlobal(prefix, `git+file://${bare}`).then(
      () => ({ ok: true, stderr: "" }),
      (e: { stderr?: string }) => ({ ok: false, stderr: e.stderr ?? "" }),
    );
    assert.equal(r.ok, false, "npm install -g of a branch fails");
    assert.match(r.stderr, /mvmctl: npm cannot install a git branch of mvmctl globally/);
    assert.match(r.stderr, /npm install -g git\+<url>#v<version>/);
    assert.ok(!existsSync(join(prefix, "lib", "node_modules", "mvmctl")), "nothing half-installed");
    assert.ok(!existsSync(join(prefix, "bin", "mvmctl")));
  });
});
