import { MvmError } from "../core/errors.js";
import { type NixContext, nixAttrNames } from "./nix/ops.js";

// Which package of the flake a template builds (as the original mvm chose it, plus a lookup by profile):
// profile `default` → packages.<system>.default; another profile `p` → packages.<system>.p when the flake has
// it, else packages.<system>.tenant-p (the original's name). A `#attr` in the stored flake ref wins.

export function defaultAttribute(system: string): string {
  return `packages.${system}.default`;
}

/** Picks the attribute; evaluates the flake's package names only for a non-default profile. */
export async function resolveAttribute(
  flakeRef: string,
  profile: string,
  system: string,
  explicitAttr: string | undefined,
  ctx: NixContext,
  extra: string[] = [],
): Promise<string> {
  if (explicitAttr) return explicitAttr;
  if (profile === "default") return defaultAttribute(system);
  const names = await nixAttrNames(flakeRef, `packages.${system}`, ctx, extra);
  if (names?.includes(profile)) return `packages.${system}.${profile}`;
  if (names?.includes(`tenant-${profile}`)) return `packages.${system}.tenant-${profile}`;
  throw missingAttribute(
    flakeRef,
    [`packages.${system}.${profile}`, `packages.${system}.tenant-${profile}`],
    system,
    names,
  );
}

/** The error for a flake without the wanted package, listing the packages it does have. */
export function missingAttribute(
  flakeRef: string,
  wanted: string[],
  system: string,
  names: string[] | undefined,
): MvmError {
  const has =
    names === undefined
      ? `it has no packages for ${system}`
      : names.length === 0
        ? `packages.${system} is empty`
        : `it has: ${names.map((n) => `packages.${system}.${n}`).join(", ")}`;
  return new MvmError("not_found", `flake ${flakeRef} does not provide ${wanted.join(" or ")}; ${has}`, {
    hint: "Pick one of its packages with 'mvmctl template edit <name> --profile P' (profile P builds packages.<system>.P).",
  });
}

/** Lists the flake's packages after a build failed because the attribute is missing. */
export async function explainMissing(
  flakeRef: string,
  attribute: string,
  system: string,
  ctx: NixContext,
  extra: string[] = [],
): Promise<MvmError> {
  const names = await nixAttrNames(flakeRef, `packages.${system}`, ctx, extra).catch(() => undefined);
  return missingAttribute(flakeRef, [attribute], system, names);
}
