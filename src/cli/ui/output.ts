import { redactSecrets } from "../../core/secrets.js";
import { sanitize } from "./sanitize.js";

// Where output goes: results to stdout (JSON when --json), human progress and warnings to stderr so that
// `--json` output stays machine-readable. Colour only on a terminal and never with NO_COLOR. Messages
// may quote a guest, a registry or a planner, so info/success/warn print them through the sanitiser.

export function colorEnabled(stream: NodeJS.WriteStream = process.stderr): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  if (process.env.MVM_NO_COLOR) return false;
  return Boolean(stream.isTTY);
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(color: Color, s: string, stream: NodeJS.WriteStream = process.stderr): string {
  return colorEnabled(stream) ? `\u001b[${CODES[color]}m${s}\u001b[0m` : s;
}

/** A JSON result on stdout; secrets the process knows are masked (JSON escapes control characters). */
export function printJson(v: unknown): void {
  process.stdout.write(`${redactSecrets(JSON.stringify(v, null, 2))}\n`);
}

/** A result line on stdout, printed as given: callers pass untrusted parts through `sanitize`. */
export function printLine(s = ""): void {
  process.stdout.write(`${s}\n`);
}

/** A human status line on stderr (the original's `[mvm] …`). */
export function info(msg: string): void {
  process.stderr.write(`${paint("dim", "[mvm]")} ${sanitize(msg)}\n`);
}

export function success(msg: string): void {
  process.stderr.write(`${paint("dim", "[mvm]")} ${paint("green", sanitize(msg))}\n`);
}

export function warn(msg: string): void {
  process.stderr.write(`${paint("yellow", "warning:")} ${sanitize(msg)}\n`);
}
