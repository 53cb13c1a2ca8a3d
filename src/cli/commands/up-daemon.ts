import type { Endpoint } from "../../sdk/transport.js";
import type { VmInfo } from "../../sdk/types.js";
import { performance } from "node:perf_hooks";
import type { PhaseTiming, Timeline } from "../../host/timeline.js";
import { daemonCall } from "../daemon-route.js";
import { printReady } from "./up-report.js";

// `mvmctl up -d` through the data dir's daemon: the same request as POST /v1/vms, the same output as
// a direct start.

export interface DaemonUp {
  template: string;
  name?: string;
  cpus?: number;
  mem?: number;
  ports: { host: number; guest: number }[];
  json?: boolean;
  /** --timings: this process's phases so far; the daemon's phases and the request's own cost follow. */
  timeline?: Timeline;
}

/**
 * This process's phases, then the daemon's (from its answer), then what the request cost beyond
 * them (HTTP both ways, JSON): together the command's whole time.
 */
function joinedTimeline(local: Timeline, requestMs: number, daemon: PhaseTiming[]): PhaseTiming[] {
  const inDaemon = daemon.reduce((sum, p) => sum + p.ms, 0);
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return [...local.phases, ...daemon, { phase: "api_request", ms: round(Math.max(0, requestMs - inDaemon)) }];
}

export async function upThroughDaemon(endpoint: Endpoint, req: DaemonUp): Promise<void> {
  const t0 = performance.now();
  const r = await daemonCall<VmInfo>(endpoint, {
    method: "POST",
    path: "/v1/vms",
    json: {
      template: req.template,
      ...(req.name !== undefined ? { name: req.name } : {}),
      ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
      ...(req.mem !== undefined ? { mem_mib: req.mem } : {}),
      ports: req.ports,
    },
  });
  const timings = req.timeline
    ? joinedTimeline(req.timeline, performance.now() - t0, r.timings ?? [])
    : undefined;
  printReady(
    r,
    Boolean(req.json),
    timings ? { title: "timings (through the daemon)", phases: timings } : undefined,
  );
}
