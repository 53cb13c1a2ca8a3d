import { usageError } from "../core/errors.js";
import { validateFlakeRef } from "../core/flake-ref.js";
import { validateIdent, validateTemplateName } from "../core/names.js";
import { DATA_DISK_BOUNDS, MEM_BOUNDS, parseCpusFlag, parseSizeFlag } from "../core/sizes.js";

// Commander option parsers. Each throws a usage error (exit 2) naming the flag, so bad input is refused
// before anything is written.

export const name = (v: string) => validateTemplateName(v);
export const flake = (v: string) => validateFlakeRef(v);
export const profile = (v: string) => validateIdent(v, "--profile");
export const role = (v: string) => validateIdent(v, "--role");
export const cpus = (v: string) => parseCpusFlag(v);
export const mem = (v: string) => parseSizeFlag("--mem", v, MEM_BOUNDS);
export const dataDisk = (v: string) => parseSizeFlag("--data-disk", v, DATA_DISK_BOUNDS);

/** Positive whole number within bounds, for flags like --keep, --runs, --ready-timeout. */
export function wholeNumber(flag: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw usageError(`invalid ${flag} ${JSON.stringify(v)}: must be a whole number from ${min} to ${max}`);
    return n;
  };
}
