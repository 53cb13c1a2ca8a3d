import { usageError } from "./errors.js";

// Characters the original mvm refuses in flake refs. We never hand refs to a shell, but we
// keep the refusal: a ref with these characters is almost certainly a mistake or an attack.
const UNSAFE = [";", "|", "&", "$", "(", ")", "`", "!", "<", ">", "\n", "\r"];

export function flakeRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return "flake reference must not be empty";
  if (ref.length > 4096) return "flake reference is longer than 4096 characters";
  for (const c of UNSAFE) {
    if (ref.includes(c))
      return `flake reference contains unsafe character ${JSON.stringify(c)} — shell metacharacters not allowed`;
  }
  // NUL and other control characters can never be part of a path or URL we pass on.
  if (/[\u0000-\u001f\u007f]/.test(ref)) return "flake reference contains a control character";
  return undefined;
}

export function validateFlakeRef(ref: string): string {
  const problem = flakeRefProblem(ref);
  if (problem) throw usageError(`invalid flake reference ${JSON.stringify(ref)}: ${problem}`);
  return ref;
}

/** True when the ref names a local path rather than a URL-like ref (`github:`, `path:`, …). */
export function isLocalFlakePath(ref: string): boolean {
  return !ref.includes(":");
}

/** Splits `ref#attr` into its parts; the attribute is optional. */
export function splitFlakeAttr(ref: string): { ref: string; attr: string | undefined } {
  const i = ref.indexOf("#");
  if (i < 0) return { ref, attr: undefined };
  return { ref: ref.slice(0, i), attr: ref.slice(i + 1) };
}
