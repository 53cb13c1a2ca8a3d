// What each benchmark needs on this machine, checked before anything runs: a benchmark whose
// requirements are missing is skipped with the package to install, and a baseline whose program is
// missing is left out of the run (its figures say so) instead of failing half-way with a spawn error.
import { createRequire } from "node:module";
import { delimiter } from "node:path";
import { findOnPath, lookupTool, type ToolName } from "../src/host/tools.js";

/** A program (or npm package) a benchmark uses. */
export interface Need {
  /** What to call it in messages: the program or package name. */
  name: string;
  /** How to get it. */
  install: string;
  /** Its path when present, else undefined. */
  find: (env: NodeJS.ProcessEnv) => string | undefined;
}

function tool(name: ToolName, install: string): Need {
  return { name, install, find: (env) => lookupTool(name, env).path };
}

function program(name: string, install: string): Need {
  return { name, install, find: (env) => findOnPath(name, env) };
}

function npmPackage(name: string): Need {
  return {
    name: `${name} (npm)`,
    install: "npm ci: it is a devDependency",
    find: () => {
      try {
        return createRequire(import.meta.url).resolve(name);
      } catch {
        return undefined;
      }
    },
  };
}

const NIX = tool("nix", "apt-get install nix-bin, or set MVM_NIX");
const QEMU = tool("qemu", "apt-get install qemu-system-x86, or set MVM_QEMU_BIN");
const QEMU_IMG = tool("qemu-img", "apt-get install qemu-utils, or set MVM_QEMU_IMG");
const MKE2FS = program("mke2fs", "apt-get install e2fsprogs");
/**
 * Debian's awscli (/usr/bin/aws) is the baseline the targets were set against, so it comes first when
 * /usr/bin is on PATH, ahead of other installs (pyenv, pip --user); otherwise the first aws on PATH.
 */
export const AWS: Need = {
  name: "aws",
  install: "apt-get install awscli, or bash scripts/install-deps.sh --with-test-services",
  find: (env) => {
    const dirs = (env.PATH ?? "").split(delimiter);
    return (
      (dirs.includes("/usr/bin") ? findOnPath("aws", { PATH: "/usr/bin" }) : undefined) ??
      findOnPath("aws", env)
    );
  },
};

/** A baseline measured with a program of its own, and the figures that go when it is missing. */
export interface Baseline {
  need: Need;
  baseline: string;
  leftOut: string;
}

export interface BenchNeeds {
  /** Without these the benchmark cannot run at all. */
  required: readonly Need[];
  /** Baselines that are left out, with the figures they serve, when their program is missing. */
  baselines: readonly Baseline[];
}

export const NEEDS: Record<string, BenchNeeds> = {
  "cli-startup": { required: [], baselines: [] },
  "template-list": { required: [], baselines: [] },
  "build-noop": { required: [NIX, MKE2FS], baselines: [] },
  registry: {
    required: [npmPackage("s3rver"), program("cp", "apt-get install coreutils")],
    baselines: [
      { need: AWS, baseline: "aws s3 cp", leftOut: "the two S3 push throughput figures judged against it" },
    ],
  },
  restore: { required: [NIX, MKE2FS, QEMU, QEMU_IMG], baselines: [] },
  daemon: { required: [NIX, MKE2FS, QEMU, QEMU_IMG], baselines: [] },
  e2b: { required: [NIX, MKE2FS, QEMU, QEMU_IMG, npmPackage("e2b")], baselines: [] },
  verify: { required: [], baselines: [] },
};

export interface Readiness {
  bench: string;
  /** Missing requirements: the benchmark is skipped when any is missing. */
  missing: Need[];
  /** Baselines left out of this run. */
  skippedBaselines: Baseline[];
}

/** What can run here, per benchmark. */
export function checkPrerequisites(
  benches: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Readiness[] {
  return benches.map((bench) => {
    const needs = NEEDS[bench] ?? { required: [], baselines: [] };
    return {
      bench,
      missing: needs.required.filter((n) => n.find(env) === undefined),
      skippedBaselines: needs.baselines.filter((b) => b.need.find(env) === undefined),
    };
  });
}

/** One line per benchmark: ready, ready without a baseline, or skipped and what to install. */
export function describeReadiness(r: Readiness): string[] {
  if (r.missing.length > 0)
    return [`SKIP  ${r.bench}: needs ${r.missing.map((n) => `${n.name} (${n.install})`).join(", ")}`];
  if (r.skippedBaselines.length === 0) return [`ok    ${r.bench}`];
  return r.skippedBaselines.map(
    (b) =>
      `ok    ${r.bench}, without the ${b.baseline} baseline and ${b.leftOut}: ${b.need.name} not found (${b.need.install})`,
  );
}
