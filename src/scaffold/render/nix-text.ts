// Building blocks for generated Nix and shell text. Generated code mixes three languages (Nix strings
// holding shell commands holding values), so each layer has one escaping function and values pass
// through every layer they cross. Plan values are whitelisted before they get here (plan.ts); the
// escaping is the second line of defence, not the first.

/** A piece of a Nix string: literal text, or a Nix expression spliced in as `${expr}` (a store path). */
export type Piece = string | { nix: string };

/** A shell fragment written as pieces, e.g. [{ nix: "pkgs.curl" }, "/bin/curl -sf …"]. */
export type Fragment = Piece[];

/** Escapes text for a double-quoted Nix string: every `$` too, so no `${` can ever start a splice. */
export function escapeNixString(s: string): string {
  return s.replace(/[\\"$\n\r\t]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\${c}`;
    }
  });
}

/** A Nix string literal. */
export function nixStr(s: string): string {
  return `"${escapeNixString(s)}"`;
}

/** A Nix string literal holding a fragment, with its expressions spliced in. */
export function nixFragment(f: Fragment): string {
  return `"${f.map((p) => (typeof p === "string" ? escapeNixString(p) : `\${${p.nix}}`)).join("")}"`;
}

/**
 * The fragment as the guest's shell will see it, with each splice replaced by a plausible store path.
 * Used to check generated shell with `sh -n` without building anything.
 */
export function shellView(f: Fragment): string {
  return f
    .map((p) =>
      typeof p === "string" ? p : `/nix/store/00000000000000000000000000000000-${p.nix.replace(/\W+/g, "-")}`,
    )
    .join("");
}

/** Quotes a value for POSIX sh (and busybox sh): single quotes, with embedded ones closed and reopened. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A Nix attribute name: bare when it is an identifier, quoted otherwise. */
export function nixAttr(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name) && !NIX_KEYWORDS.has(name) ? name : nixStr(name);
}

const NIX_KEYWORDS = new Set(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"]);

/** Indents every non-empty line of `text` by `n` spaces. */
export function indent(text: string, n: number): string {
  const pad = " ".repeat(n);
  return text
    .split("\n")
    .map((l) => (l === "" ? l : pad + l))
    .join("\n");
}
