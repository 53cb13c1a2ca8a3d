import { readFileSync } from "node:fs";
import { identProblem, templateNameProblem } from "../core/names.js";
import { ApiError } from "./api-error.js";
import { readJsonObject, sendJson } from "./body.js";
import { handleEvents } from "./events-handler.js";
import { handleExec } from "./exec-handler.js";
import { handleFiles } from "./files-handler.js";
import { handleMkdir, handleRename } from "./files-tree-handler.js";
import { hostInfo } from "./host-info.js";
import { handleLogs } from "./logs-handler.js";
import { handlePull, TemplatePuller } from "./pull-handler.js";
import type { Route } from "./router.js";
import { listTemplates, templateView } from "./templates-handler.js";
import { parseCreateVm, parseLabels, parseTtl } from "./validate.js";
import type { VmService } from "./vm-service.js";

/** The checked-in OpenAPI document, served as it is. */
export const OPENAPI_PATH = new URL("../../../docs/openapi.json", import.meta.url);

function vmName(params: Record<string, string>): string {
  const name = params.name ?? "";
  if (identProblem(name))
    throw new ApiError(400, "invalid_request", `invalid VM name ${JSON.stringify(name.slice(0, 64))}`);
  return name;
}

function templateName(params: Record<string, string>): string {
  const name = params.name ?? "";
  if (templateNameProblem(name))
    throw new ApiError(400, "invalid_request", `invalid template name ${JSON.stringify(name.slice(0, 64))}`);
  return name;
}

/** `label=key=value` query parameters, all of which a VM must carry. */
function labelFilter(q: URLSearchParams): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const l of q.getAll("label")) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw new ApiError(400, "invalid_request", "label filters are key=value");
    pairs[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return parseLabels(pairs, "label");
}

export function apiRoutes(vms: VmService, opts: { maxUpload: number }): Route[] {
  const puller = new TemplatePuller(vms, vms.events);
  const files =
    (op: Parameters<typeof handleFiles>[2]): Route["handler"] =>
    (req, res, p, q) =>
      handleFiles(vms, vmName(p), op, q, req, res, opts.maxUpload);
  return [
    {
      method: "GET",
      path: "/openapi.json",
      handler: async (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(readFileSync(OPENAPI_PATH));
      },
    },
    {
      method: "GET",
      path: "/v1/health",
      public: true,
      handler: async (_req, res) => sendJson(res, 200, { ok: true }),
    },
    {
      method: "GET",
      path: "/v1/host",
      handler: async (_req, res) => sendJson(res, 200, await hostInfo(vms)),
    },
    {
      method: "GET",
      path: "/v1/events",
      handler: (req, res, _p, q) => handleEvents(vms.events, req, res, q),
    },
    {
      method: "GET",
      path: "/v1/templates",
      handler: async (_req, res) => sendJson(res, 200, { templates: await listTemplates(vms.store) }),
    },
    {
      method: "POST",
      path: "/v1/templates/pull",
      handler: (req, res) => handlePull(puller, req, res),
    },
    {
      method: "GET",
      path: "/v1/templates/{name}",
      handler: async (_req, res, p) => sendJson(res, 200, await templateView(vms.store, templateName(p))),
    },
    {
      method: "GET",
      path: "/v1/vms",
      handler: async (_req, res, _p, q) => sendJson(res, 200, { vms: await vms.list(labelFilter(q)) }),
    },
    {
      method: "POST",
      path: "/v1/vms",
      handler: async (req, res) => {
        const body = parseCreateVm(await readJsonObject(req));
        const gone = new AbortController();
        res.on("close", () => {
          if (!res.writableFinished) gone.abort();
        });
        sendJson(res, 201, await vms.create(body, gone.signal));
      },
    },
    {
      method: "GET",
      path: "/v1/vms/{name}",
      handler: async (_req, res, p) => sendJson(res, 200, await vms.get(vmName(p))),
    },
    {
      method: "DELETE",
      path: "/v1/vms/{name}",
      handler: async (_req, res, p) => {
        await vms.kill(vmName(p));
        res.writeHead(204).end();
      },
    },
    {
      method: "PUT",
      path: "/v1/vms/{name}/ttl",
      handler: async (req, res, p) => {
        const body = await readJsonObject(req);
        for (const k of Object.keys(body))
          if (k !== "ttl_ms")
            throw new ApiError(400, "invalid_request", `unknown field ${JSON.stringify(k.slice(0, 64))}`);
        const ttl = body.ttl_ms === null ? null : (parseTtl(body.ttl_ms) ?? null);
        if (body.ttl_ms === undefined)
          throw new ApiError(400, "invalid_request", "ttl_ms is required (null clears it)");
        sendJson(res, 200, await vms.setTtl(vmName(p), ttl));
      },
    },
    {
      method: "POST",
      path: "/v1/vms/{name}/pause",
      handler: async (_req, res, p) => sendJson(res, 200, await vms.pause(vmName(p))),
    },
    {
      method: "POST",
      path: "/v1/vms/{name}/resume",
      handler: async (_req, res, p) => sendJson(res, 200, await vms.resume(vmName(p))),
    },
    {
      method: "POST",
      path: "/v1/vms/{name}/exec",
      handler: (req, res, p) => handleExec(vms, vmName(p), req, res),
    },
    { method: "GET", path: "/v1/vms/{name}/files", handler: files("read") },
    { method: "PUT", path: "/v1/vms/{name}/files", handler: files("write") },
    { method: "DELETE", path: "/v1/vms/{name}/files", handler: files("remove") },
    { method: "GET", path: "/v1/vms/{name}/files/stat", handler: files("stat") },
    { method: "GET", path: "/v1/vms/{name}/files/list", handler: files("list") },
    {
      method: "POST",
      path: "/v1/vms/{name}/files/mkdir",
      handler: (_req, res, p, q) => handleMkdir(vms, vmName(p), q, res),
    },
    {
      method: "POST",
      path: "/v1/vms/{name}/files/rename",
      handler: (_req, res, p, q) => handleRename(vms, vmName(p), q, res),
    },
    {
      method: "GET",
      path: "/v1/vms/{name}/logs",
      handler: (_req, res, p, q) => handleLogs(vms, vmName(p), q, res),
    },
  ];
}
