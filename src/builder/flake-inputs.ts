import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { writeFileAtomic } from "../store/atomic.js";
import type { NixContext } from "./nix/ops.js";
import { nixFlakeInputs } from "./nix/ops.js";

// What a local flake takes as inputs, read from flake.lock when there is one (no process needed) and
// else from flake.nix's `inputs` (evaluated; a flake's inputs are literals, so nothing is fetched).
// Two questions depend on it: which of the inputs mvmctl supplies (`mvm`, its Nix library, and
// `mvm-kit`, the offline guest kit) the flake has and whether they already name local directories, and
// can the build run without binary caches (every other input is local).

export const KIT_INPUT = "mvm-kit";
export const LIBRARY_INPUT = "mvm";

export interface FlakeInputs {
  /**
   * Every input other than `mvm` and `mvm-kit` is a local path or a local git repository (or there are
   * none). Those two are local either way: as they are, or once the build supplies them.
   */
  allLocal: boolean;
  /** The flake has an `mvm` input. */
  hasLibrary: boolean;
  /** The flake has an `mvm-kit` input. */
  hasKit: boolean;
  /** The local path of the `mvm-kit` input, when the flake has one. */
  kitPath: string | undefined;
  /** The local path of the `mvm` input (mvmctl's Nix library), when the flake has one. */
  libraryPath: string | undefined;
}

interface LockNode {
  inputs?: Record<string, unknown>;
  locked?: { type?: unknown; path?: unknown; url?: unknown };
  original?: { type?: unknown; path?: unknown; url?: unknown };
}

function localUrl(url: string, flakeDir: string): string | undefined {
  if (url.startsWith("path:")) {
    const p = url.slice(5).split("?")[0]!;
    return isAbsolute(p) ? p : resolve(flakeDir, p);
  }
  if (url.startsWith("git+file:")) return url.slice("git+file:".length).replace(/^\/\//, "").split("?")[0];
  if (isAbsolute(url)) return url;
  return undefined;
}

function fromLock(lock: { nodes?: Record<string, LockNode>; root?: unknown }, flakeDir: string): FlakeInputs {
  const nodes = lock.nodes ?? {};
  const rootNode = nodes[typeof lock.root === "string" ? lock.root : "root"];
  const keyOf = (input: string): string | undefined => {
    const key = rootNode?.inputs?.[input];
    return typeof key === "string" ? key : undefined;
  };
  const supplied = new Set([keyOf(KIT_INPUT), keyOf(LIBRARY_INPUT)]);
  let allLocal = true;
  for (const [key, node] of Object.entries(nodes)) {
    if (key === lock.root || node === rootNode || supplied.has(key)) continue;
    const type = node.locked?.type;
    const url = typeof node.locked?.url === "string" ? node.locked.url : "";
    const local = type === "path" || (type === "git" && url.startsWith("file:"));
    if (!local) allLocal = false;
  }
  const pathOf = (input: string): string | undefined => {
    const key = keyOf(input);
    const node = key === undefined ? undefined : nodes[key];
    const raw = node?.original?.path ?? node?.locked?.path;
    return typeof raw === "string" ? (isAbsolute(raw) ? raw : resolve(flakeDir, raw)) : undefined;
  };
  return {
    allLocal,
    hasLibrary: keyOf(LIBRARY_INPUT) !== undefined,
    hasKit: keyOf(KIT_INPUT) !== undefined,
    kitPath: pathOf(KIT_INPUT),
    libraryPath: pathOf(LIBRARY_INPUT),
  };
}

function fromInputs(inputs: Record<string, unknown>, flakeDir: string): FlakeInputs {
  let allLocal = true;
  let kitPath: string | undefined;
  let libraryPath: string | undefined;
  for (const [name, spec] of Object.entries(inputs)) {
    const supplied = name === KIT_INPUT || name === LIBRARY_INPUT;
    const s = (typeof spec === "string" ? { url: spec } : spec) as {
      url?: unknown;
      follows?: unknown;
      path?: unknown;
    };
    if (s === null || typeof s !== "object") continue;
    if (typeof s.follows === "string" && s.url === undefined) continue;
    const url = typeof s.url === "string" ? s.url : typeof s.path === "string" ? `path:${s.path}` : undefined;
    const local = url === undefined ? undefined : localUrl(url, flakeDir);
    if (local === undefined && !supplied) allLocal = false;
    if (name === KIT_INPUT) kitPath = local;
    if (name === LIBRARY_INPUT) libraryPath = local;
  }
  return { allLocal, hasLibrary: LIBRARY_INPUT in inputs, hasKit: KIT_INPUT in inputs, kitPath, libraryPath };
}

/**
 * flake.nix's `inputs` as nix evaluates them, remembered in `cacheDir` under the SHA-256 of the file's
 * text: a flake's inputs are literals, so the same text always evaluates to the same inputs, and an
 * unchanged flake is not evaluated again (a no-op build then runs one nix process, not two).
 */
async function evaluatedInputs(
  flakeNix: string,
  text: string,
  ctx: NixContext,
  cacheDir: string | undefined,
): Promise<Record<string, unknown>> {
  const file = cacheDir
    ? join(cacheDir, `${createHash("sha256").update(text).digest("hex")}.json`)
    : undefined;
  if (file) {
    const known = await fs
      .readFile(file, "utf8")
      .then((t) => JSON.parse(t) as unknown)
      .catch(() => undefined); // missing or damaged: evaluate again
    if (known !== null && typeof known === "object" && !Array.isArray(known))
      return known as Record<string, unknown>;
  }
  const inputs = await nixFlakeInputs(flakeNix, ctx);
  if (file)
    await fs
      .mkdir(dirname(file), { recursive: true })
      .then(() => writeFileAtomic(file, JSON.stringify(inputs)))
      .catch(() => {}); // a hint only: the next build evaluates again
  return inputs;
}

/**
 * Reads the inputs of the flake in `flakeDir`; `cacheDir` (under the data dir) remembers what
 * flake.nix's text evaluated to.
 */
export async function readFlakeInputs(
  flakeDir: string,
  ctx: NixContext,
  cacheDir?: string,
): Promise<FlakeInputs> {
  const text = await fs.readFile(join(flakeDir, "flake.lock"), "utf8").catch(() => undefined);
  if (text !== undefined) {
    try {
      const fromFile = fromLock(JSON.parse(text), flakeDir);
      // A lock written before the kit input was added does not know it: ask flake.nix then.
      if (fromFile.hasKit || !(await mentionsKit(flakeDir))) return fromFile;
    } catch {
      // A broken lock: nix will report it; decide from flake.nix meanwhile.
    }
  }
  const flakeNix = join(flakeDir, "flake.nix");
  const flakeText = await fs.readFile(flakeNix, "utf8");
  // No `inputs` anywhere in the file: nothing to evaluate (saves a nix process on every build).
  if (!flakeText.includes("inputs"))
    return { allLocal: true, hasLibrary: false, hasKit: false, kitPath: undefined, libraryPath: undefined };
  return fromInputs(await evaluatedInputs(flakeNix, flakeText, ctx, cacheDir), flakeDir);
}

async function mentionsKit(flakeDir: string): Promise<boolean> {
  const text = await fs.readFile(join(flakeDir, "flake.nix"), "utf8").catch(() => "");
  return text.includes(KIT_INPUT);
}
