import type { ErrorKind } from "../core/errors.js";

// The messages between the hash pool and its threads: one file per request, one reply per request.

export interface HashRequest {
  path: string;
}

/** The fields of a failure that matter to the caller and to the error renderer. */
export interface HashFailure {
  message: string;
  kind?: ErrorKind;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export type HashReply = { sha256: string } | { error: HashFailure };
