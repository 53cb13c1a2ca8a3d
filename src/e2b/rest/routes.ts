import { E2bError, notSupported, sendE2bJson } from "../errors.js";
import type { Route } from "../../server/router.js";
import { detailView, listedView, type Sandboxes, sandboxView } from "../sandboxes.js";
import {
  parseConnectBody,
  parseListQuery,
  parseNewSandbox,
  parseTimeout,
  parseTimeoutBody,
} from "../validate.js";
import { readE2bBody } from "./body.js";

// E2B's REST API (the subset a single host can serve), one table. Sandbox creation answers once the
// guest is ready, as E2B's does; list, get, kill, timeout and connect read the VMs on disk.

function id(p: Record<string, string>): string {
  return p.sandboxID ?? "";
}

export function e2bRoutes(sandboxes: Sandboxes): Route[] {
  const create: Route["handler"] = async (req, res) => {
    const body = parseNewSandbox(await readE2bBody(req));
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    sendE2bJson(res, 201, sandboxView(await sandboxes.create(body, gone.signal)));
  };
  const connect: Route["handler"] = async (req, res, p) => {
    const timeout = parseConnectBody(await readE2bBody(req));
    sendE2bJson(res, 200, sandboxView(await sandboxes.connect(id(p), timeout)));
  };
  /** An E2B feature scoped to one sandbox that this host does not offer: 404 first if it is gone. */
  const unsupportedFor =
    (what: string): Route["handler"] =>
    async (req, _res, p) => {
      req.resume();
      await sandboxes.get(id(p));
      throw notSupported(what);
    };
  const unsupported =
    (what: string): Route["handler"] =>
    async (req) => {
      req.resume();
      throw notSupported(what);
    };
  return [
    { method: "GET", path: "/health", handler: async (_req, res) => void res.writeHead(204).end() },
    // Before /sandboxes/{sandboxID}, which would otherwise take "metrics" for an id.
    { method: "GET", path: "/sandboxes/metrics", handler: unsupported("sandbox metrics") },
    { method: "POST", path: "/sandboxes", handler: create },
    { method: "POST", path: "/v2/sandboxes", handler: create },
    {
      method: "GET",
      path: "/sandboxes",
      handler: async (_req, res, _p, q) => {
        const { page } = await sandboxes.list(parseListQuery(q, false));
        sendE2bJson(res, 200, page.map(listedView));
      },
    },
    {
      method: "GET",
      path: "/v2/sandboxes",
      handler: async (_req, res, _p, q) => {
        const query = parseListQuery(q, true);
        const { page, nextToken, running } = await sandboxes.list(query);
        sendE2bJson(res, 200, page.map(listedView), {
          ...(nextToken ? { "x-next-token": nextToken } : {}),
          ...(query.states.has("running") ? { "x-total-running": String(running) } : {}),
        });
      },
    },
    {
      method: "GET",
      path: "/sandboxes/{sandboxID}",
      handler: async (_req, res, p) => sendE2bJson(res, 200, detailView(await sandboxes.get(id(p)))),
    },
    {
      method: "DELETE",
      path: "/sandboxes/{sandboxID}",
      handler: async (_req, res, p) => {
        await sandboxes.kill(id(p));
        res.writeHead(204).end();
      },
    },
    {
      method: "POST",
      path: "/sandboxes/{sandboxID}/timeout",
      handler: async (req, res, p) => {
        await sandboxes.setTimeout(id(p), parseTimeoutBody(await readE2bBody(req)));
        res.writeHead(204).end();
      },
    },
    {
      method: "POST",
      path: "/sandboxes/{sandboxID}/refreshes",
      handler: async (req, res, p) => {
        const body = await readE2bBody(req);
        const duration = body.duration === undefined ? undefined : parseTimeout(body.duration, 0);
        if (duration !== undefined && duration > 3600)
          throw new E2bError(400, "duration must be at most 3600 seconds", "invalid_request");
        await sandboxes.connect(id(p), duration ?? 0);
        res.writeHead(204).end();
      },
    },
    { method: "POST", path: "/sandboxes/{sandboxID}/connect", handler: connect },
    { method: "POST", path: "/v2/sandboxes/{sandboxID}/connect", handler: connect },
    {
      method: "POST",
      path: "/sandboxes/{sandboxID}/resume",
      handler: async (req, _res, p) => {
        req.resume();
        await sandboxes.get(id(p));
        // Nothing is ever paused here, so a sandbox that exists is running.
        throw new E2bError(409, `sandbox ${id(p)} is already running`, "sandbox_running");
      },
    },
    {
      method: "POST",
      path: "/sandboxes/{sandboxID}/pause",
      handler: unsupportedFor("pausing a sandbox (keep it running with setTimeout, or kill it)"),
    },
    { method: "POST", path: "/sandboxes/{sandboxID}/fork", handler: unsupportedFor("forking a sandbox") },
    {
      method: "POST",
      path: "/sandboxes/{sandboxID}/snapshots",
      handler: unsupportedFor("sandbox snapshots"),
    },
    { method: "PUT", path: "/sandboxes/{sandboxID}/network", handler: unsupportedFor("network rules") },
    { method: "GET", path: "/sandboxes/{sandboxID}/metrics", handler: unsupportedFor("sandbox metrics") },
    { method: "GET", path: "/sandboxes/{sandboxID}/logs", handler: unsupportedFor("sandbox logs") },
    { method: "GET", path: "/v2/sandboxes/{sandboxID}/logs", handler: unsupportedFor("sandbox logs") },
    { method: "GET", path: "/snapshots", handler: unsupported("sandbox snapshots") },
  ];
}
