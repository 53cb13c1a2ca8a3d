import { promises as fs } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { MvmError } from "../core/errors.js";
import type { DataPaths } from "../store/paths.js";
import type { TemplateStore } from "../store/templates.js";
import type { HypervisorChoice } from "../hypervisor/index.js";
import { HostKeeper } from "../hypervisor/keeper/in-process.js";
import { ApiError, toApiError } from "./api-error.js";
import { bearerMatches } from "./auth.js";
import { sendError } from "./body.js";
import { findRoute, type Route } from "./router.js";
import { apiRoutes } from "./routes.js";
import { type HostLimits, VmService } from "./vm-service.js";

// The per-host daemon: one HTTP server on a unix socket (mode 0600: its file mode is the access
// control) and optionally one on TCP, where every request but the health probe needs the API key.
// It keeps no VM state in memory that matters: VMs live in their directories (and, for the VMs the
// daemon keeps itself, a keeper.json), so a restarted daemon picks up the VMs it left running.

export interface DaemonOptions {
  paths: DataPaths;
  store: TemplateStore;
  socket: string;
  /** host:port for TCP, with `apiKey` required. */
  listen?: { host: string; port: number };
  apiKey?: string;
  hypervisor: HypervisorChoice;
  readyTimeoutMs: number;
  limits: HostLimits;
  maxUpload: number;
  reaperIntervalMs: number;
  onLog?: (line: string) => void;
  /** Do not keep the process alive for the listening sockets (a daemon inside an SDK client). */
  unref?: boolean;
  /**
   * Keep the VMs in this process (keeper/in-process.ts): a VM then costs its hypervisor alone, and
   * the next run of the daemon takes back the VMs this one leaves running. Without it (a daemon
   * inside an SDK client, which ends with its script) every VM gets a keeper process of its own.
   */
  keepVms?: boolean;
  /** Another API on the same listeners (E2B's), shown every request before the /v1 router. */
  surface?: (vms: VmService) => RequestHook;
}

/** Sees a request before the daemon's own router; resolves true when it answered it. */
export type RequestHook = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface RunningDaemon {
  socket: string;
  /** The TCP port actually bound (when listening on TCP). */
  port: number | undefined;
  vms: VmService;
  close(opts?: { stopVms?: boolean }): Promise<void>;
}

/** Whether something answers on a unix socket (a daemon already running there). */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function listen(server: Server, target: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (typeof target === "string") server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

function serverFor(
  routes: Route[],
  apiKey: string | undefined,
  log: (l: string) => void,
  hook?: RequestHook,
): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (hook && (await hook(req, res))) return;
    const url = new URL(req.url ?? "/", "http://mvmd");
    const found = findRoute(routes, req.method ?? "GET", url.pathname);
    if ("miss" in found) {
      throw found.miss === 404
        ? new ApiError(404, "no_such_route", "no such API route")
        : new ApiError(405, "method_not_allowed", `${req.method} is not allowed here`);
    }
    if (apiKey !== undefined && !found.route.public && !bearerMatches(req.headers.authorization, apiKey))
      throw new ApiError(401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)");
    await found.route.handler(req, res, found.params, url.searchParams);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = toApiError(e);
      if (err.status >= 500)
        log(`${req.method} ${new URL(req.url ?? "/", "http://mvmd").pathname}: ${(e as Error).message}`);
      // The body of a refused upload is drained, so the client reads the error instead of a reset.
      if (!req.readableEnded) req.resume();
      sendError(res, err);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // exec and uploads run as long as they need
  server.maxHeadersCount = 64;
  server.maxConnections = 512;
  server.on("clientError", (_e, socket) => socket.destroy());
  return server;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const log = opts.onLog ?? (() => {});
  if (opts.listen && !opts.apiKey) throw new MvmError("usage", "listening on TCP needs an API key");
  const keeper = opts.keepVms ? new HostKeeper() : undefined;
  const vms = new VmService(opts.paths, opts.store, {
    hypervisor: opts.hypervisor,
    readyTimeoutMs: opts.readyTimeoutMs,
    limits: opts.limits,
    ...(keeper ? { keeper } : {}),
  });
  const routes = apiRoutes(vms, { maxUpload: opts.maxUpload });
  const hook = opts.surface?.(vms);
  if (await socketInUse(opts.socket))
    throw new MvmError("exists", `a daemon is already listening on ${opts.socket}`);
  await fs.rm(opts.socket, { force: true });
  const taken = await vms.adoptKept();
  if (taken.adopted.length > 0)
    log(`took back ${taken.adopted.length} running VM(s): ${taken.adopted.join(", ")}`);
  if (taken.stopped.length > 0)
    log(`stopped ${taken.stopped.length} VM(s) whose start was cut short: ${taken.stopped.join(", ")}`);
  const unixServer = serverFor(routes, undefined, log, hook);
  // Created private (no window in which another user could connect), then made exactly 0600.
  const umask = process.umask(0o077);
  try {
    await listen(unixServer, opts.socket);
  } finally {
    process.umask(umask);
  }
  await fs.chmod(opts.socket, 0o600);
  if (opts.unref) unixServer.unref();
  let tcpServer: Server | undefined;
  if (opts.listen) {
    tcpServer = serverFor(routes, opts.apiKey, log, hook);
    try {
      await listen(tcpServer, opts.listen);
    } catch (e) {
      unixServer.close();
      throw new MvmError(
        "usage",
        `cannot listen on ${opts.listen.host}:${opts.listen.port}: ${(e as Error).message}`,
      );
    }
  }
  vms.startReaper(opts.reaperIntervalMs, (names) => log(`TTL expired: stopped ${names.join(", ")}`));
  const addr = tcpServer?.address();
  return {
    socket: opts.socket,
    port: addr && typeof addr === "object" ? addr.port : undefined,
    vms,
    async close(closeOpts = {}) {
      vms.stopReaper();
      const closed = (s: Server | undefined) =>
        new Promise<void>((r) => {
          if (!s) return r();
          s.close(() => r());
          s.closeAllConnections();
        });
      await Promise.all([closed(unixServer), closed(tcpServer)]);
      if (closeOpts.stopVms) await vms.stopOwned();
      // The VMs left running go on without the daemon; its next run takes them back.
      keeper?.release();
      await fs.rm(opts.socket, { force: true });
    },
  };
}
