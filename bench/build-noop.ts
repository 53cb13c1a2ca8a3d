// A no-op `template build` (the flake is unchanged: a cache hit) against a bare `nix build` of the same
// attribute with the same nix options, measured alternately in the same run. Target: ours at most
// 60 ms over the bare build. The flake is the offline `minimal` preset, scaffolded and built once before measuring.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KIT_INPUT, LIBRARY_INPUT } from "../src/builder/flake-inputs.js";
import { requireTool } from "../src/host/tools.js";
import { ensureKit, nixLibraryDir } from "../src/kit/index.js";
import { DataPaths } from "../src/store/paths.js";
import { type BenchResult, CLI, median, printResult, timeProcess } from "./lib.js";

function cli(args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`mvmctl ${args.join(" ")} failed: ${r.stderr}`);
}

export async function benchBuildNoop(runs = 9): Promise<BenchResult> {
  const root = mkdtempSync(join(tmpdir(), "mvm-bench-build-"));
  const env = { ...process.env, MVM_DATA_DIR: join(root, "data"), NO_COLOR: "1" };
  const flake = join(root, "noop");
  cli(
    ["template", "init", "noop", "--local", "--offline", "--preset", "minimal", "--dir", root, "--json"],
    env,
  );
  cli(["template", "create", "noop", "--flake", flake], env);
  cli(["template", "build", "noop"], env); // the real build; everything after is a no-op
  // The nix options `template build` passes: offline, no binary caches, and the scaffolded flake's
  // library and kit inputs pointed at this machine's copies (the kit the build above made).
  const kit = await ensureKit(new DataPaths(join(root, "data")));
  const nixArgs = [
    "--extra-experimental-features",
    "nix-command flakes",
    "--offline",
    "--option",
    "substituters",
    "",
  ];
  if (process.getuid?.() === 0) nixArgs.push("--option", "build-users-group", "");
  nixArgs.push("build", "--json", "--no-link");
  nixArgs.push("--override-input", LIBRARY_INPUT, `path:${nixLibraryDir()}`);
  nixArgs.push("--override-input", KIT_INPUT, `path:${kit.dir}`);
  nixArgs.push(`path:${flake}#packages.x86_64-linux.default`);
  const nix = requireTool("nix", env); // the nix mvmctl runs (MVM_NIX, else PATH)
  timeProcess(nix, nixArgs, env); // warm caches on both sides
  timeProcess(process.execPath, [CLI, "template", "build", "noop"], env);
  const ours: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    bare.push(timeProcess(nix, nixArgs, env));
    ours.push(timeProcess(process.execPath, [CLI, "template", "build", "noop"], env));
  }
  rmSync(root, { recursive: true, force: true });
  const value = median(ours);
  const baseline = median(bare);
  const startup = {
    node: median([0, 1, 2, 3, 4].map(() => timeProcess(process.execPath, ["-e", "0"], env))),
    cli: median([0, 1, 2, 3, 4].map(() => timeProcess(process.execPath, [CLI, "--version"], env))),
  };
  const ratio = value / baseline;
  return {
    name: "no-op template build (minimal preset, offline)",
    value,
    unit: "s",
    baseline: { name: "bare nix build of the same attribute", value: baseline },
    ratio,
    target: "≤ the bare nix build + 60 ms",
    pass: value - baseline <= 0.06,
    notes: `medians of ${runs} alternating runs. Where the time goes, same run: Node alone ${startup.node.toFixed(3)} s, \`mvmctl --version\` (Node + loading the CLI) ${startup.cli.toFixed(3)} s, so the build itself adds ${(value - startup.cli).toFixed(3)} s over CLI start-up; the bare no-op is nix's evaluation cache answering.`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) printResult(await benchBuildNoop());
