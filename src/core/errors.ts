// Typed errors. Every failure a user can cause or meet is one of these; the CLI renders them in one
// place (src/cli/ui/errors.ts) as a single `error: …` line with an exit code: 2 for usage, 1 otherwise.

export type ErrorKind =
  | "usage" // bad flags, names, sizes: exit 2
  | "not_found"
  | "exists"
  | "locked"
  | "corrupt"
  | "newer_schema"
  | "external" // a program we spawn failed
  | "integrity" // checksum / digest mismatch
  | "network"
  | "timeout"
  | "unsupported"
  | "internal";

export class MvmError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string | undefined;
  /** Context lines shown under the error (e.g. the last lines of a failed build's log). */
  readonly details: readonly string[];

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { hint?: string; cause?: unknown; details?: readonly string[] } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "MvmError";
    this.kind = kind;
    this.hint = opts.hint;
    this.details = opts.details ?? [];
  }

  get exitCode(): number {
    return this.kind === "usage" ? 2 : 1;
  }
}

export function usageError(message: string, hint?: string): MvmError {
  return new MvmError("usage", message, hint === undefined ? {} : { hint });
}

export function isMvmError(e: unknown): e is MvmError {
  return e instanceof MvmError;
}

/** Message of any thrown value, without a stack. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
