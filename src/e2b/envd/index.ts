import type { IncomingMessage, ServerResponse } from "node:http";
import { ConnectError, ConnectStream, readUnary, sendUnary, sendUnaryError } from "./connect.js";
import { serveFiles } from "./files-http.js";
import { filesystemCall, isFilesystemCall, WATCH_UNSUPPORTED } from "./filesystem.js";
import { toConnectError } from "./guest-errors.js";
import { PROCESS_STREAMS, PROCESS_UNARY, processUnary } from "./process.js";
import type { EnvdTarget } from "./target.js";

// envd, the API E2B's SDK speaks inside a sandbox, served for a sandbox VM by its guest agent:
// process.Process and filesystem.Filesystem over Connect (JSON), GET/POST /files, GET /health and
// GET /envs. Requests carry E2b-Sandbox-Id (the caller checked the access token and found the VM).

export type { EnvdTarget } from "./target.js";

/**
 * The envd version reported to clients. The SDK switches features on by it: from 0.5.7 it uploads
 * streams as application/octet-stream, closes stdin, omits a default user (envd's default, `user`,
 * applies); file metadata (0.6.2) and watch options (0.6.3, 0.6.4) stay off.
 */
export const ENVD_VERSION = "0.5.7";

/** True for a request meant for a sandbox's envd: it carries an E2b-Sandbox-Id header. */
export function isEnvdRequest(req: IncomingMessage): boolean {
  const id = req.headers["e2b-sandbox-id"];
  return typeof id === "string" && id.length > 0;
}

async function rpc(
  target: EnvdTarget,
  req: IncomingMessage,
  res: ServerResponse,
  service: string,
  method: string,
): Promise<void> {
  if (req.method !== "POST") {
    req.resume();
    return sendUnaryError(res, new ConnectError("unimplemented", "Connect calls are POST requests"));
  }
  if (service === "process.Process") {
    const stream = PROCESS_STREAMS[method];
    if (stream) return stream(target, req, res);
    if (PROCESS_UNARY.has(method)) {
      try {
        return sendUnary(res, await processUnary(target, method, await readUnary(req)));
      } catch (e) {
        req.resume();
        return sendUnaryError(res, toConnectError(e));
      }
    }
  }
  if (service === "filesystem.Filesystem" && isFilesystemCall(method)) {
    if (method === "WatchDir") {
      // A streaming call: its error travels in the end-of-stream message.
      req.resume();
      new ConnectStream(res).end(new ConnectError("unimplemented", WATCH_UNSUPPORTED));
      return;
    }
    try {
      return sendUnary(res, await filesystemCall(target, req, method, await readUnary(req)));
    } catch (e) {
      req.resume();
      return sendUnaryError(res, toConnectError(e));
    }
  }
  req.resume();
  sendUnaryError(res, new ConnectError("unimplemented", `${service}/${method} is not served here`));
}

/** Serves one envd request (the access token is checked by the caller). */
export async function serveEnvd(
  req: IncomingMessage,
  res: ServerResponse,
  target: EnvdTarget,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://envd");
  const path = url.pathname;
  const call = /^\/(process\.Process|filesystem\.Filesystem)\/([A-Za-z]+)$/.exec(path);
  if (call) return rpc(target, req, res, call[1] as string, call[2] as string);
  if (path === "/files") return serveFiles(target, req, res, url.searchParams);
  req.resume();
  if (path === "/health" && req.method === "GET") {
    try {
      await target.vms.get(target.vmName);
      res.writeHead(204).end();
    } catch {
      res
        .writeHead(502, { "content-type": "application/json" })
        .end(JSON.stringify({ code: 502, message: `sandbox ${target.sandboxId} is not running` }));
    }
    return;
  }
  if (path === "/envs" && req.method === "GET") {
    const text = JSON.stringify(target.envVars);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const text = JSON.stringify({ code: 404, message: `envd has no ${req.method} ${path.slice(0, 200)}` });
  res.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
