import { usageError } from "./errors.js";

const MAX_MIB = 4294967295;

/**
 * Parses a human size into MiB exactly like the original's parse_human_size:
 * `512`, `512M`, `4G`, `0.5G`, `512 MiB`, `2048K`. Rounds half away from zero.
 * Returns the error message rather than throwing so that callers can add context.
 */
export function parseHumanSizeMiB(input: string): number | string {
  const s = input.trim();
  if (s === "") return "Empty size string";
  const m = /^[0-9.]+/.exec(s);
  if (!m) return `No numeric value found in '${input}'`;
  const num = m[0];
  if (!/^(\d+\.?\d*|\.\d+)$/.test(num)) return `Invalid number '${num}'`;
  const value = Number(num);
  if (!Number.isFinite(value)) return `Invalid number '${num}'`;
  const suffix = s.slice(num.length).trim().toUpperCase();
  let mib: number;
  switch (suffix) {
    case "":
    case "M":
    case "MB":
    case "MIB":
      mib = value;
      break;
    case "G":
    case "GB":
    case "GIB":
      mib = value * 1024;
      break;
    case "K":
    case "KB":
    case "KIB":
      mib = value / 1024;
      break;
    default:
      return `Unknown size suffix '${suffix}'`;
  }
  if (mib > MAX_MIB) return `Size too large (max: ${MAX_MIB} MiB)`;
  return Math.round(mib); // values are non-negative, so round() is half away from zero
}

export interface SizeBounds {
  min: number;
  max: number;
}

export const MEM_BOUNDS: SizeBounds = { min: 128, max: 65536 };
export const DATA_DISK_BOUNDS: SizeBounds = { min: 0, max: 4194304 };
export const CPU_BOUNDS: SizeBounds = { min: 1, max: 32 };

/** Parses a flag value into MiB within bounds; throws a usage error naming the flag. */
export function parseSizeFlag(flag: string, input: string, bounds: SizeBounds): number {
  const r = parseHumanSizeMiB(input);
  if (typeof r === "string") throw usageError(`invalid ${flag} ${JSON.stringify(input)}: ${r}`);
  if (r < bounds.min || r > bounds.max)
    throw usageError(
      `invalid ${flag} ${JSON.stringify(input)}: must be between ${bounds.min} and ${bounds.max} MiB, got ${r}`,
    );
  return r;
}

export function parseCpusFlag(input: string): number {
  if (!/^\d{1,3}$/.test(input.trim()))
    throw usageError(`invalid --cpus ${JSON.stringify(input)}: must be a whole number`);
  const n = Number(input.trim());
  if (n < CPU_BOUNDS.min || n > CPU_BOUNDS.max)
    throw usageError(
      `invalid --cpus ${JSON.stringify(input)}: must be between ${CPU_BOUNDS.min} and ${CPU_BOUNDS.max}`,
    );
  return n;
}

/** format_bytes of the original mvm. */
export function formatBytes(n: number): string {
  const KiB = 1024;
  const MiB = KiB * 1024;
  const GiB = MiB * 1024;
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}
