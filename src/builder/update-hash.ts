import { promises as fs, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { tempSibling } from "../host/files.js";
import { writeFileAtomic } from "../store/atomic.js";
import { onInterrupt } from "./interrupt.js";
import { NixFailure, type NixContext, nixBuild } from "./nix/ops.js";

// `--update-hash` as in the original mvm, without the original's defects: each literal fixed-output hash in
// flake.nix is recomputed on its own (blank it alone, build this template's package, read the hash nix
// got for exactly that derivation), so several fixed-output derivations never all receive one hash and
// hashes that are right are left as they are. flake.nix is only ever replaced atomically, and restored —
// also on Ctrl-C — when anything goes wrong.

const HASH_LITERAL =
  /\b(outputHash|hash|sha256|sha512|npmHash|npmDepsHash|vendorHash|cargoHash)(\s*=\s*)"([^"\n]*)"/g;
const FAKE_HASH = /^sha(1|256|512)-A+=*$/;

interface Literal {
  attr: string;
  line: number;
  value: string;
  valueStart: number;
  valueEnd: number;
}

export function hashLiterals(text: string): Literal[] {
  const out: Literal[] = [];
  for (const m of text.matchAll(HASH_LITERAL)) {
    const valueStart = m.index + m[1]!.length + m[2]!.length + 1;
    out.push({
      attr: m[1]!,
      line: text.slice(0, m.index).split("\n").length,
      value: m[3]!,
      valueStart,
      valueEnd: valueStart + m[3]!.length,
    });
  }
  return out;
}

function withValue(text: string, lit: Literal, value: string): string {
  return text.slice(0, lit.valueStart) + value + text.slice(lit.valueEnd);
}

/** `specified`/`got` pairs of every "hash mismatch in fixed-output derivation" nix reported. */
export function hashMismatches(errors: string[]): Array<{ drv: string; specified: string; got: string }> {
  const out = [];
  for (const e of errors) {
    const m = /hash mismatch in fixed-output derivation '([^']+)':\s*specified:\s*(\S+)\s*got:\s*(\S+)/.exec(
      e,
    );
    if (m) out.push({ drv: m[1]!, specified: m[2]!, got: m[3]! });
  }
  return out;
}

/** Recomputes every literal fixed-output hash of `flakeDir/flake.nix` that `installable` uses. */
export async function updateFodHash(
  flakeDir: string,
  installable: string,
  ctx: NixContext,
  extra: string[] = [],
): Promise<string[]> {
  const file = join(flakeDir, "flake.nix");
  const original = await fs.readFile(file, "utf8");
  const mode = (await fs.stat(file)).mode & 0o777;
  const count = hashLiterals(original).length;
  if (count === 0)
    throw new MvmError("not_found", `${file} has no literal fixed-output hash (such as outputHash = "…")`, {
      hint: "--update-hash rewrites hashes written as string literals in flake.nix; this flake has none to update.",
    });
  const restoreOnInterrupt = onInterrupt(() => {
    const tmp = tempSibling(file);
    writeFileSync(tmp, original, { mode });
    renameSync(tmp, file);
  });
  const changes: string[] = [];
  let text = original;
  try {
    for (let i = 0; i < count; i++) {
      const lit = hashLiterals(text)[i]!;
      await writeFileAtomic(file, withValue(text, lit, ""), mode);
      let got: string | undefined;
      try {
        await nixBuild(installable, ctx, { keepGoing: true, extra });
      } catch (e) {
        if (!(e instanceof NixFailure)) throw e;
        got = hashMismatches(e.errors).find((m) => FAKE_HASH.test(m.specified))?.got;
        if (got === undefined)
          throw new MvmError(
            "external",
            `could not recompute the hash on line ${lit.line} of ${file}: ${e.message}`,
            {
              details: e.details,
              ...(e.hint ? { hint: e.hint } : {}),
            },
          );
      }
      if (got === undefined) {
        // The package built without this hash: it belongs to something else in the flake. Leave it.
        changes.push(`${lit.attr} on line ${lit.line}: not used by this template's package, left as it was`);
        continue;
      }
      changes.push(
        got === lit.value
          ? `${lit.attr} on line ${lit.line}: unchanged (${got})`
          : `${lit.attr} on line ${lit.line}: ${lit.value || '""'} → ${got}`,
      );
      text = withValue(text, lit, got);
    }
    await writeFileAtomic(file, text, mode);
    return changes;
  } catch (e) {
    await writeFileAtomic(file, original, mode);
    throw e;
  } finally {
    restoreOnInterrupt();
  }
}
