import { redactSecrets } from "./secrets.js";

// Text that comes from an untrusted party (a guest, a registry, an HTTP peer) on its way to a terminal:
// every character a terminal would act on (C0 and C1 controls, DEL, escape sequences, bidirectional and
// invisible formatting marks) is shown escaped (ESC as \x1b), known secrets are masked, and a line is
// cut at a bounded length. The one place this is decided; src/cli/ui/sanitize.ts applies it to output.

/** Longest line (in characters, after escaping) that a message may print. */
export const MAX_MESSAGE_LINE = 1000;

/** Formatting marks that reorder or hide text (bidi overrides, zero-width characters, BOM). */
const INVISIBLE = /[\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** The escaped form of one code point, or the code point itself when it is safe to print. */
export function escapeChar(ch: string, keepTab: boolean): string {
  const c = ch.codePointAt(0) ?? 0;
  if (c === 0x0a) return "\\n";
  if (c === 0x0d) return "\\r";
  if (c === 0x09) return keepTab ? ch : "\\t";
  if (c < 0x20 || c === 0x7f) return `\\x${hex2(c)}`;
  if (c >= 0x80 && c <= 0x9f) return `\\u00${hex2(c)}`;
  if (c > 0x2000 && INVISIBLE.test(ch)) return `\\u${c.toString(16).padStart(4, "0")}`;
  return ch;
}

export function cutMarker(dropped: number): string {
  return `… [${dropped} more characters]`;
}

/**
 * One printable line: secrets masked, every control character escaped (newlines too), at most `max`
 * characters. A longer line keeps its beginning and its end (where an error usually says why) with a
 * note of how much was cut between them.
 */
export function sanitize(text: string, max: number = MAX_MESSAGE_LINE): string {
  const pieces = Array.from(redactSecrets(text), (ch) => escapeChar(ch, false));
  let length = 0;
  for (const p of pieces) length += p.length;
  if (length <= max) return pieces.join("");
  const take = (from: number, step: number, budget: number): number => {
    let i = from;
    for (let used = 0; i >= 0 && i < pieces.length; i += step) {
      used += (pieces[i] as string).length;
      if (used > budget) break;
    }
    return i;
  };
  const headEnd = take(0, 1, Math.floor((max * 2) / 3));
  const tailStart = take(pieces.length - 1, -1, max - Math.floor((max * 2) / 3)) + 1;
  const head = pieces.slice(0, headEnd).join("");
  const tail = pieces.slice(Math.max(headEnd, tailStart)).join("");
  return `${head} … [${Math.max(0, tailStart - headEnd)} characters cut] … ${tail}`;
}
