#!/usr/bin/env node
// Makes the commit a git URL installs: HEAD's files plus dist/src compiled from them, with a
// package.json that has no scripts. `npm install -g <git url>#<that commit or its tag>` then needs no
// build: npm (7 to 11 at least) installs a global git package that has a build step by first running
// a global `npm install` inside its temporary clone, which links the global package to that clone and
// leaves a broken install once the clone is deleted (npm/cli#4148, npm/cli#6984); a package with no
// scripts is simply packed from the clone. The commit is a child of HEAD on no branch; `--tag TAG`
// names it (a release tag, so that `github:<owner>/mvmctl/<tag>?dir=nix` — the Nix library a
// scaffolded flake names — is that commit too). Prints the commit's hash.
//
//   node scripts/release-commit.mjs [--tag v0.1.0] [--force]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function fail(message) {
  process.stderr.write(`release-commit: ${message}\n`);
  process.exit(1);
}

function git(args, { env = process.env, input } = {}) {
  const r = spawnSync("git", ["-C", root, ...args], { env, input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) fail(`git: ${r.error.message}`);
  if (r.status !== 0) fail(`git ${args.join(" ")} exited with ${r.status}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function parseArgs(argv) {
  const opts = { tag: undefined, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--tag" && i + 1 < argv.length) opts.tag = argv[++i];
    else if (a === "--force") opts.force = true;
    else {
      process.stderr.write("usage: node scripts/release-commit.mjs [--tag TAG] [--force]\n");
      process.exit(2);
    }
  }
  return opts;
}

function filesUnder(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.tag !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(opts.tag))
  fail(`invalid tag ${JSON.stringify(opts.tag)}: letters, digits, . _ / -, not starting with a symbol`);
if (git(["status", "--porcelain", "--untracked-files=no"]) !== "")
  fail("the work tree has uncommitted changes: commit them first (the release is built from HEAD)");

const scratch = mkdtempSync(join(tmpdir(), "mvm-release-"));
try {
  // Compile HEAD's sources into a fresh directory, so no stale output of a deleted source ships.
  const out = join(scratch, "dist");
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json", "--outDir", out], {
    cwd: root,
    stdio: "inherit",
  });
  if (built.error || built.status !== 0) fail("tsc failed (run `npm ci` first)");

  const env = { ...process.env, GIT_INDEX_FILE: join(scratch, "index") };
  git(["read-tree", "HEAD"], { env });
  const entries = [];
  for (const file of filesUnder(join(out, "src"))) {
    const blob = git(["hash-object", "-w", "--", file]);
    const rel = `dist/src/${relative(join(out, "src"), file).split("\\").join("/")}`;
    const mode = rel === "dist/src/cli/main.js" ? "100755" : "100644";
    entries.push(`${mode} ${blob}\t${rel}`);
  }
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  delete pkg.scripts;
  delete pkg.devDependencies;
  const pkgBlob = git(["hash-object", "-w", "--stdin"], { input: `${JSON.stringify(pkg, null, 2)}\n` });
  entries.push(`100644 ${pkgBlob}\tpackage.json`);
  git(["update-index", "--index-info"], { env, input: `${entries.join("\n")}\n` });
  const tree = git(["write-tree"], { env });
  const head = git(["rev-parse", "HEAD"]);
  const commit = git([
    "commit-tree",
    tree,
    "-p",
    head,
    "-m",
    `mvmctl ${pkg.version}, installable from git: dist/src built from ${head.slice(0, 12)}, no scripts`,
  ]);
  if (opts.tag !== undefined) git(["tag", ...(opts.force ? ["-f"] : []), opts.tag, commit]);
  process.stdout.write(`${commit}\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
