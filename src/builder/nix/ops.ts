import { MvmError } from "../../core/errors.js";
import type { NixEvent } from "../../core/build-events.js";
import type { BuildLog } from "./log-file.js";
import { type NixOutcome, runNix } from "./run.js";

// The few nix operations a template build needs, each one process with argv, each status checked.

export interface NixContext {
  offline: boolean;
  log?: BuildLog;
  onEvent?: (e: NixEvent) => void;
  onSpawn?: (pid: number) => void;
}

/** A nix command that failed: the message names what failed, `errors` holds nix's own messages. */
export class NixFailure extends MvmError {
  constructor(
    message: string,
    readonly errors: string[],
    opts: { hint?: string; details?: readonly string[] } = {},
  ) {
    super("external", message, opts);
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

function failure(what: string, r: NixOutcome, ctx: NixContext): NixFailure {
  const main = r.errors[0] ? firstLine(r.errors[0]) : `nix exited with status ${r.code}`;
  const details = ctx.log ? ctx.log.tail(12) : r.errors.flatMap((e) => e.split("\n")).slice(-12);
  return new NixFailure(`${what}: ${main}`, r.errors, {
    details,
    ...(ctx.log ? { hint: `Full log: ${ctx.log.path}` } : {}),
  });
}

export interface BuildOptions {
  rebuild?: boolean;
  keepGoing?: boolean;
  /** Extra flags such as --override-input pairs. */
  extra?: string[];
}

/** `nix build --json --no-link <installable>`: returns the `out` path of the single result. */
export async function nixBuild(
  installable: string,
  ctx: NixContext,
  opts: BuildOptions = {},
): Promise<string> {
  const args = ["build", "--json", "--no-link", ...(opts.extra ?? [])];
  if (opts.rebuild) args.push("--rebuild");
  if (opts.keepGoing) args.push("--keep-going");
  args.push(installable);
  const r = await runNix({ args, ...ctx });
  if (r.code !== 0) throw failure(`nix build ${installable} failed`, r, ctx);
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new MvmError("external", `nix build ${installable} printed something that is not JSON`);
  }
  const first = Array.isArray(parsed) ? (parsed[0] as { outputs?: Record<string, unknown> }) : undefined;
  const out = first?.outputs?.out;
  if (typeof out !== "string" || !STORE_PATH.test(out))
    throw new MvmError("external", `nix build ${installable} did not report an output path`);
  return out;
}

export const STORE_PATH = /^\/nix\/store\/([0-9a-df-np-sv-z]{32})-[A-Za-z0-9+._?=-]+$/;

/** The store hash of an output path: the revision id. */
export function storeHash(outPath: string): string {
  const m = STORE_PATH.exec(outPath);
  if (!m?.[1]) throw new MvmError("external", `not a nix store path: ${outPath}`);
  return m[1];
}

/** Names under `<flakeRef>#<attrPath>` (an attribute set); undefined when it does not exist. */
export async function nixAttrNames(
  flakeRef: string,
  attrPath: string,
  ctx: NixContext,
  extra: string[] = [],
): Promise<string[] | undefined> {
  const args = ["eval", "--json", ...extra, `${flakeRef}#${attrPath}`, "--apply", "builtins.attrNames"];
  const r = await runNix({ args, offline: ctx.offline, ...(ctx.log ? { log: ctx.log } : {}) });
  if (r.code !== 0) {
    if (r.errors.some((e) => /does not provide attribute/.test(e))) return undefined;
    throw failure(`nix eval ${flakeRef}#${attrPath} failed`, r, ctx);
  }
  const v = JSON.parse(r.stdout) as unknown;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
}

/** Size in bytes of the closure of a store path (`nix path-info -S --json`). */
export async function nixClosureBytes(outPath: string, ctx: NixContext): Promise<number | undefined> {
  const r = await runNix({
    args: ["path-info", "-S", "--json", outPath],
    offline: ctx.offline,
    ...(ctx.log ? { log: ctx.log } : {}),
  });
  if (r.code !== 0) throw failure(`nix path-info ${outPath} failed`, r, ctx);
  const v = JSON.parse(r.stdout) as Array<{ closureSize?: unknown }>;
  const size = Array.isArray(v) ? v[0]?.closureSize : undefined;
  return typeof size === "number" && Number.isSafeInteger(size) ? size : undefined;
}

/** Evaluates `inputs` of a flake.nix file without fetching anything (a flake's inputs are literals). */
export async function nixFlakeInputs(flakeNix: string, ctx: NixContext): Promise<Record<string, unknown>> {
  const r = await runNix({
    args: ["eval", "--json", "--file", flakeNix, "inputs"],
    offline: ctx.offline,
    ...(ctx.log ? { log: ctx.log } : {}),
  });
  if (r.code !== 0) {
    if (r.errors.some((e) => /attribute 'inputs'.* not found|attribute 'inputs' missing/.test(e))) return {};
    throw failure(`cannot read the inputs of ${flakeNix}`, r, ctx);
  }
  const v = JSON.parse(r.stdout) as unknown;
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
