import type { IncomingMessage, ServerResponse } from "node:http";
import type { VmService } from "../../server/vm-service.js";

// The in-sandbox API (envd) of E2B-compatible sandboxes. This stand-in answers every envd request
// with 501 until the real service is in place; its exports are the interface the REST surface uses.

/** The envd version whose features are implemented (the SDK switches features on it). */
export const ENVD_VERSION = "0.5.7";

export interface EnvdTarget {
  sandboxId: string;
  /** The daemon's VM name. */
  vmName: string;
  /** envVars given at create. */
  envVars: Record<string, string>;
  /** The daemon's VM service. */
  vms: VmService;
}

/** True for a request meant for a sandbox's envd: it carries an E2b-Sandbox-Id header. */
export function isEnvdRequest(req: IncomingMessage): boolean {
  return req.headers["e2b-sandbox-id"] !== undefined;
}

/** Serves one envd request (the access token is checked by the caller). */
export async function serveEnvd(
  req: IncomingMessage,
  res: ServerResponse,
  _target: EnvdTarget,
): Promise<void> {
  if (!req.readableEnded) req.resume();
  const body = `${JSON.stringify({ code: 501, message: "envd is not available" })}\n`;
  res.writeHead(501, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
