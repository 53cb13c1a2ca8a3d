// `npm prepare`: builds dist/ with the project's TypeScript. npm runs it before packing and when it
// installs the package from a git URL. `npm install -g <git url>` prepares the clone with the global
// settings still in force, so the clone gets no node_modules and no compiler; in that case the
// clone's own dependencies are installed into it first, as a project install.
//
// `npm install -g <git url>` of a commit with build scripts cannot give a working install (npm 7 to
// 11 at least, npm/cli#4148 and #6984): npm prepares the clone with a global `npm install` inside it,
// which links the global package to the temporary clone and drops the dependencies already unpacked.
// That case is recognised (a git preparation under a global install whose package is a link to this
// clone) and refused with the ways that work, rather than left half-installed.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

/** True when npm's global install has linked the global package to this very directory. */
function globallyLinkedHere() {
  const prefix = process.env.npm_config_prefix || process.env.npm_config_global_prefix;
  if (process.env.npm_config_global !== "true" || !prefix) return false;
  const { name } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const link = join(prefix, "lib", "node_modules", name);
  try {
    return lstatSync(link).isSymbolicLink() && realpathSync(link) === realpathSync(root);
  } catch {
    return false;
  }
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    process.stderr.write(`prepare: ${cmd} ${args.join(" ")} exited with ${r.status ?? r.signal}\n`);
    process.exit(r.status ?? 1);
  }
}

// pacote (npm's fetcher) sets _PACOTE_NO_PREPARE_ while it prepares a git dependency.
if (process.env._PACOTE_NO_PREPARE_ && globallyLinkedHere()) {
  process.stderr.write(
    "mvmctl: npm cannot install a git branch of mvmctl globally (it links the install to a temporary clone).\n" +
      "Install a release tag instead (npm install -g git+<url>#v<version>; tags are made by scripts/release-commit.mjs),\n" +
      "or pack first: npm pack git+<url> && npm install -g ./mvmctl-<version>.tgz\n",
  );
  process.exit(1);
}
if (!existsSync(tsc)) {
  const env = { ...process.env };
  for (const k of Object.keys(env))
    if (/^npm_config_(global|prefix|location|allow_scripts)$/i.test(k)) delete env[k];
  const npm = process.env.npm_execpath;
  const argv = [
    "install",
    "--location=project",
    "--include=dev",
    "--ignore-scripts",
    "--no-save",
    "--no-audit",
    "--no-fund",
  ];
  if (npm?.endsWith(".js")) run(process.execPath, [npm, ...argv], env);
  else run("npm", argv, env);
}
run(process.execPath, [tsc, "-p", "tsconfig.json"]);
