import { isMvmError, messageOf } from "../../core/errors.js";
import { paint } from "./output.js";
import { sanitize } from "./sanitize.js";

const ERRNO_HINTS: Record<string, string> = {
  ENOSPC: "The disk is full: free space in the data dir (MVM_DATA_DIR) and try again.",
  EACCES: "Permission denied: check the owner and mode of the data dir (MVM_DATA_DIR).",
  EROFS: "The data dir is on a read-only filesystem: point MVM_DATA_DIR somewhere writable.",
};

/**
 * Renders any thrown value as one `error: …` line (plus an optional hint) and returns the exit code.
 * Messages quote untrusted peers (guest output, registry and planner replies), so every line printed,
 * the --debug stack included, goes through the sanitiser: controls escaped, length capped, secrets masked.
 */
export function renderError(e: unknown, debug: boolean): number {
  const lines: string[] = [];
  let code = 1;
  let hint: string | undefined;
  if (isMvmError(e)) {
    code = e.exitCode;
    hint = e.hint;
    lines.push(e.message);
  } else {
    const errno = (e as NodeJS.ErrnoException | undefined)?.code;
    lines.push(messageOf(e));
    if (typeof errno === "string") hint = ERRNO_HINTS[errno];
  }
  const first = (lines[0] ?? "unknown error").split("\n")[0] ?? "";
  process.stderr.write(`${paint("red", "error:")} ${sanitize(first)}\n`);
  if (isMvmError(e)) for (const d of e.details) process.stderr.write(`  ${paint("dim", sanitize(d))}\n`);
  if (hint) process.stderr.write(`${paint("dim", "hint:")} ${sanitize(hint)}\n`);
  if (debug && e instanceof Error && e.stack)
    for (const line of e.stack.split("\n")) process.stderr.write(`${sanitize(line)}\n`);
  else if (!isMvmError(e)) process.stderr.write(`${paint("dim", "(run with --debug for details)")}\n`);
  return code;
}
