import type { ServerResponse } from "node:http";
import { toApiError } from "../server/api-error.js";

// E2B's error shape: {code: <the HTTP status>, message}, plus an optional machine-readable
// `error_code`. The official SDKs pick their error classes from the status (401 authentication,
// 404 not found, 429 rate limit, ...) and show the message, so messages say what to do.

export class E2bError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorCode?: string,
  ) {
    super(message);
    this.name = "E2bError";
  }
}

export function badRequest(message: string): E2bError {
  return new E2bError(400, message, "invalid_request");
}

/** A feature of E2B's API this host does not offer: a 4xx the client can act on, never a 5xx. */
export function notSupported(what: string): E2bError {
  return new E2bError(400, `${what} is not supported by mvmctl's E2B-compatible API`, "not_supported");
}

export function sandboxNotFound(id: string): E2bError {
  return new E2bError(404, `sandbox ${JSON.stringify(id.slice(0, 64))} not found`, "sandbox_not_found");
}

/** Any thrown value as an E2B error; failures of our own API keep their status and message. */
export function toE2bError(e: unknown): E2bError {
  if (e instanceof E2bError) return e;
  const api = toApiError(e);
  return new E2bError(api.status, api.message, api.code);
}

export function sendE2bJson(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendE2bError(res: ServerResponse, e: E2bError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendE2bJson(res, e.status, {
    code: e.status,
    message: e.message,
    ...(e.errorCode ? { error_code: e.errorCode } : {}),
  });
}
