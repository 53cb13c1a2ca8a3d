// `npm prepare`: builds dist/ with the project's TypeScript. npm runs it before packing and when it
// installs the package from a git URL. `npm install -g <git url>` prepares the clone with the global
// settings still in force, so the clone gets no node_modules and no compiler; in that case the
// clone's own dependencies are installed into it first, as a project install.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    process.stderr.write(`prepare: ${cmd} ${args.join(" ")} exited with ${r.status ?? r.signal}\n`);
    process.exit(r.status ?? 1);
  }
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
