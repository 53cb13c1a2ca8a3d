import type { PortForward } from "../../hypervisor/backend.js";
import type { parseHypervisor } from "../../hypervisor/index.js";
import type { PhaseTiming } from "../../host/timeline.js";
import { timelineLines } from "../../host/timeline.js";
import { info, printJson, printLine, success } from "../ui/output.js";

// What `mvmctl up` takes and what a detached start prints, whoever started the VM (this process in
// up-direct.ts, or the daemon in up-daemon.ts): the same lines and the same JSON either way.

export interface UpOpts {
  template?: string;
  name?: string;
  detach?: boolean;
  port: PortForward[];
  cold?: boolean;
  /** false with --no-fallback. */
  fallback: boolean;
  cpus?: number;
  mem?: number;
  hypervisor: ReturnType<typeof parseHypervisor>;
  readyTimeout: number;
  json?: boolean;
  /** false with --no-daemon. */
  daemon: boolean;
  timings?: boolean;
}

export interface ReadyVm {
  name: string;
  backend: string;
  mode: string;
  ready_ms?: number | null;
  ports: { host: number; guest: number; host_address: string }[];
  pid: number;
}

/** The answer to `up -d`: JSON (with --json) or a few lines, then the timeline when asked for. */
export function printReady(
  r: ReadyVm,
  json: boolean,
  timings?: { phases: PhaseTiming[]; title: string },
): void {
  if (json) {
    const total = timings ? Math.round(timings.phases.reduce((sum, p) => sum + p.ms, 0) * 1000) / 1000 : 0;
    printJson({
      name: r.name,
      backend: r.backend,
      mode: r.mode,
      ready_ms: r.ready_ms,
      ports: r.ports,
      pid: r.pid,
      ...(timings ? { timings: timings.phases, timings_total_ms: total } : {}),
    });
    return;
  }
  const ports = r.ports.map((x) => `${x.host_address}:${x.host}->${x.guest}`).join(", ") || "none";
  success(`VM ${r.name} is ready (${r.mode}, ${r.ready_ms} ms)`);
  printLine(`name:  ${r.name}`);
  printLine(`mode:  ${r.mode}`);
  printLine(`ready: ${r.ready_ms} ms`);
  printLine(`ports: ${ports}`);
  if (timings) printTimeline(timings.title, timings.phases);
}

/** A start's phases on stderr (stdout carries the result, or the console in the foreground). */
export function printTimeline(title: string, phases: PhaseTiming[]): void {
  info(`${title}:`);
  for (const line of timelineLines(phases)) info(`  ${line}`);
}
