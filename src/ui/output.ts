// Where output goes: results to stdout (JSON when --json), human progress and warnings to stderr so that
// `--json` output stays machine-readable. Colour only on a terminal and never with NO_COLOR.

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

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

export function printLine(s = ""): void {
  process.stdout.write(`${s}\n`);
}

/** A human status line on stderr (the original's `[mvm] …`). */
export function info(msg: string): void {
  process.stderr.write(`${paint("dim", "[mvm]")} ${msg}\n`);
}

export function success(msg: string): void {
  process.stderr.write(`${paint("dim", "[mvm]")} ${paint("green", msg)}\n`);
}

export function warn(msg: string): void {
  process.stderr.write(`${paint("yellow", "warning:")} ${msg}\n`);
}
