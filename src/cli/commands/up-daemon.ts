import type { Endpoint } from "../../sdk/transport.js";
import type { VmInfo } from "../../sdk/types.js";
import { performance } from "node:perf_hooks";
import { type PhaseTiming, type Timeline, timelineLines } from "../../host/timeline.js";
import { info, printJson, printLine, success } from "../ui/output.js";
import { daemonCall } from "../daemon-route.js";

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
  if (req.json) {
    printJson({
      name: r.name,
      backend: r.backend,
      mode: r.mode,
      ready_ms: r.ready_ms,
      ports: r.ports,
      pid: r.pid,
      ...(timings
        ? { timings, timings_total_ms: Math.round(timings.reduce((sum, p) => sum + p.ms, 0) * 1000) / 1000 }
        : {}),
    });
    return;
  }
  const ports = r.ports.map((x) => `${x.host_address}:${x.host}->${x.guest}`).join(", ") || "none";
  success(`VM ${r.name} is ready (${r.mode}, ${r.ready_ms} ms)`);
  printLine(`name:  ${r.name}`);
  printLine(`mode:  ${r.mode}`);
  printLine(`ready: ${r.ready_ms} ms`);
  printLine(`ports: ${ports}`);
  if (timings) {
    info("timings (through the daemon):");
    for (const line of timelineLines(timings)) info(`  ${line}`);
  }
}
