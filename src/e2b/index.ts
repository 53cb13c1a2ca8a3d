import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHook } from "../server/daemon.js";
import { findRoute } from "../server/router.js";
import type { VmService } from "../server/vm-service.js";
import { isEnvdRequest, serveEnvd } from "./envd/index.js";
import { E2bError, sendE2bError, toE2bError } from "./errors.js";
import { e2bRoutes } from "./rest/routes.js";
import { secretMatches } from "./sandbox-record.js";
import { Sandboxes } from "./sandboxes.js";

// The E2B-compatible surface of `mvmctl serve --e2b`, on the daemon's own listeners. The official
// SDKs reach it with E2B_API_URL and E2B_SANDBOX_URL both set to the daemon's URL: REST requests
// (X-API-Key) go to E2B's paths, which do not collide with /v1/, and every envd request carries
// E2b-Sandbox-Id (and X-Access-Token), which routes it to that sandbox's VM.

/** First path segments of E2B's REST API. */
const E2B_ROOTS = new Set([
  "sandboxes",
  "v2",
  "v3",
  "health",
  "templates",
  "snapshots",
  "teams",
  "volumes",
  "secrets",
  "api-keys",
  "access-tokens",
  "nodes",
  "admin",
]);

/** The only sandbox port served: envd's. Other ports need E2B's per-sandbox hostnames. */
export const ENVD_PORT = "49983";

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function e2bSurface(
  vms: VmService,
  opts: { apiKey: string; log?: (line: string) => void },
): RequestHook {
  const log = opts.log ?? (() => {});
  const sandboxes = new Sandboxes(vms);
  const routes = e2bRoutes(sandboxes);

  const envd = async (req: IncomingMessage, res: ServerResponse) => {
    const sandboxId = header(req, "e2b-sandbox-id") ?? "";
    const port = header(req, "e2b-sandbox-port");
    const sb = await sandboxes.find(sandboxId);
    // E2B's proxy answers 502 for a sandbox that is gone: the SDK reads it as "not running".
    if (!sb)
      throw new E2bError(
        502,
        `sandbox ${JSON.stringify(sandboxId.slice(0, 64))} was not found`,
        "sandbox_not_found",
      );
    if (port !== undefined && port !== ENVD_PORT)
      throw new E2bError(
        502,
        `port ${JSON.stringify(port.slice(0, 8))} of a sandbox is not reachable through this host; only envd (${ENVD_PORT}) is`,
        "port_not_served",
      );
    if (!secretMatches(header(req, "x-access-token"), sb.record.envdAccessToken))
      throw new E2bError(401, "a valid X-Access-Token for this sandbox is required", "unauthorized");
    await serveEnvd(req, res, {
      sandboxId,
      vmName: sb.vm.name,
      envVars: sb.record.envVars,
      vms,
    });
  };

  const rest = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (!secretMatches(header(req, "x-api-key"), opts.apiKey))
      throw new E2bError(401, "a valid API key is required in X-API-Key", "unauthorized");
    const found = findRoute(routes, req.method ?? "GET", url.pathname);
    if ("miss" in found)
      throw found.miss === 404
        ? new E2bError(404, `mvmctl does not serve ${url.pathname.slice(0, 128)}`, "no_such_route")
        : new E2bError(
            405,
            `${req.method} is not allowed on ${url.pathname.slice(0, 128)}`,
            "method_not_allowed",
          );
    await found.route.handler(req, res, found.params, url.searchParams);
  };

  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://mvmd");
    const isEnvd = isEnvdRequest(req);
    if (!isEnvd && !E2B_ROOTS.has(url.pathname.split("/")[1] ?? "")) return false;
    try {
      if (isEnvd) await envd(req, res);
      else await rest(req, res, url);
    } catch (e) {
      const err = toE2bError(e);
      if (err.status >= 500 && !(e instanceof E2bError))
        log(`${req.method} ${url.pathname.slice(0, 128)}: ${(e as Error).message}`);
      // A refused body is drained, so the client reads the error instead of a reset.
      if (!req.readableEnded) req.resume();
      sendE2bError(res, err);
    }
    return true;
  };
}
