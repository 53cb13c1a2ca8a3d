import { MvmError } from "../../core/errors.js";

// The size of QEMU's TCG translation cache (`-accel tcg,tb-size=N`, MiB). Under TCG every guest
// instruction runs as host code translated into this cache, and QEMU's own default (1 GiB, filled as
// the guest runs new code) makes the cache the largest part of an idle VM's host memory. A small
// microVM's working set of translated code is far smaller; when the cache fills, QEMU flushes it and
// translates again, which costs time, not correctness. Under KVM there is no translation and no
// cache: the setting does not apply. Measured figures: docs/performance.md.

/** The default cache size, MiB. */
export const DEFAULT_TB_SIZE_MIB = 32;
const MIN_TB_SIZE_MIB = 8;
const MAX_TB_SIZE_MIB = 4096;

/**
 * The cache size for TCG guests: MVM_QEMU_TB_SIZE (MiB, 8–4096, or "qemu" for QEMU's own default,
 * which returns undefined), else DEFAULT_TB_SIZE_MIB.
 */
export function tcgTbSizeMib(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.MVM_QEMU_TB_SIZE?.trim();
  if (!v) return DEFAULT_TB_SIZE_MIB;
  if (v === "qemu") return undefined;
  const n = /^\d{1,5}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= MIN_TB_SIZE_MIB && n <= MAX_TB_SIZE_MIB))
    throw new MvmError(
      "usage",
      `MVM_QEMU_TB_SIZE must be a size in MiB from ${MIN_TB_SIZE_MIB} to ${MAX_TB_SIZE_MIB}, or "qemu" for QEMU's default; got ${JSON.stringify(v.slice(0, 40))}`,
    );
  return n;
}
