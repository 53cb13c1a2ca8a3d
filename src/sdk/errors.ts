/**
 * Every failure the SDK reports: `code` is the API's stable error code (e.g. `vm_not_found`,
 * `too_many_vms`, `unauthorized`), or `connection_failed`, `aborted`, `bad_response` when the daemon
 * could not be reached or answered something that is not the API. `status` is the HTTP status (0
 * when there was no answer).
 */
export class MvmError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 0, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "MvmError";
    this.code = code;
    this.status = status;
  }
}
