import { MvmError } from "../core/errors.js";
import { GuestError } from "../guest/channel.js";

// Every failure the API reports is one JSON body {error: {code, message}} with an HTTP status. Codes
// are stable (clients branch on them); messages are for people.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const GUEST_STATUS: Record<string, number> = {
  not_found: 404,
  permission_denied: 403,
  is_directory: 409,
  not_a_directory: 409,
  already_exists: 409,
  not_empty: 409,
  not_regular: 409,
  invalid_path: 400,
  invalid_argument: 400,
  name_too_long: 400,
  no_space: 507,
  too_large: 413,
};

const KIND_STATUS: Record<string, [number, string]> = {
  usage: [400, "invalid_request"],
  not_found: [404, "not_found"],
  exists: [409, "conflict"],
  locked: [409, "locked"],
  timeout: [504, "timeout"],
  unsupported: [422, "unsupported"],
  corrupt: [422, "template_broken"],
  integrity: [422, "template_broken"],
};

/** The API's view of any thrown value; unknown failures are 500 without their details. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof GuestError) {
    const status = GUEST_STATUS[e.code] ?? 502;
    return new ApiError(status, status === 502 ? "guest_error" : `guest_${e.code}`, e.message);
  }
  if (e instanceof MvmError) {
    const [status, code] = KIND_STATUS[e.kind] ?? [
      500,
      e.kind === "network" ? "guest_unreachable" : "internal",
    ];
    return new ApiError(e.kind === "network" ? 502 : status, code, e.message);
  }
  return new ApiError(500, "internal", "internal error");
}
