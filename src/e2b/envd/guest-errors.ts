import { MvmError } from "../../core/errors.js";
import { ApiError } from "../../server/api-error.js";
import { GuestError } from "../../guest/channel.js";
import { type ConnectCode, ConnectError } from "./connect.js";

// How a failure reaches an E2B client: the guest agent's codes and mvmctl's error kinds become the
// Connect codes the SDK turns into its own errors (NotFoundError, InvalidArgumentError, …).

const GUEST_CODES: Record<string, ConnectCode> = {
  not_found: "not_found",
  permission_denied: "permission_denied",
  already_exists: "already_exists",
  is_directory: "invalid_argument",
  not_a_directory: "invalid_argument",
  not_regular: "invalid_argument",
  invalid_path: "invalid_argument",
  invalid_argument: "invalid_argument",
  bad_request: "invalid_argument",
  name_too_long: "invalid_argument",
  not_empty: "failed_precondition",
  not_executable: "permission_denied",
  too_many_links: "invalid_argument",
  cross_device: "failed_precondition",
  read_only: "permission_denied",
  no_space: "resource_exhausted",
  too_large: "resource_exhausted",
  busy: "resource_exhausted",
};

/** The agent's message without our "guest agent: … (code)" wrapping. */
function guestWords(e: GuestError): string {
  const m = /^guest agent: (.*) \([^()]*\)$/.exec(e.message);
  return m?.[1] ?? e.message;
}

export function toConnectError(e: unknown, path?: string): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof GuestError) {
    const code = GUEST_CODES[e.code] ?? "internal";
    if (e.code === "not_found" && path !== undefined)
      return new ConnectError(code, `path '${path}' does not exist`);
    return new ConnectError(code, guestWords(e));
  }
  if (e instanceof ApiError) {
    if (e.status === 404) return new ConnectError("unavailable", `the sandbox is not running: ${e.message}`);
    return new ConnectError(e.status === 400 ? "invalid_argument" : "internal", e.message);
  }
  if (e instanceof MvmError) {
    if (e.kind === "timeout") return new ConnectError("deadline_exceeded", e.message);
    if (e.kind === "network" || e.kind === "not_found")
      return new ConnectError("unavailable", `the sandbox is not reachable: ${e.message}`);
    if (e.kind === "usage") return new ConnectError("invalid_argument", e.message);
    return new ConnectError("internal", e.message);
  }
  return new ConnectError("internal", "internal error");
}
