import { followConsoleLog } from "../../hypervisor/keeper/console-log.js";
import { selectBackend } from "../../hypervisor/index.js";
import type { Timeline } from "../../host/timeline.js";
import { removeVmDir } from "../../vm/records.js";
import { detachVm, type StartedVm, startVm } from "../../vm/start.js";
import type { CliContext } from "../context.js";
import { info, success } from "../ui/output.js";
import { consolePrinter } from "../ui/sanitize.js";
import { printReady, printTimeline, type UpOpts } from "./up-report.js";

// `mvmctl up` started by this process (no daemon, or a flag the API does not carry): the VM's keeper
// process owns it; in the foreground the console is streamed until Ctrl-C, with -d it is handed over.
// Loaded only for such a start, so a start through the daemon does not load the VM machinery.

function portsText(started: StartedVm): string {
  const p = started.record.ports.map((x) => `${x.host_address}:${x.host}->${x.guest}`);
  return p.length ? p.join(", ") : "none";
}

/** Copies the console log to stdout (sanitised: it is the guest's output) as it grows, until `stop` is called. */
function followConsole(path: string): () => void {
  let stopped = false;
  const out = consolePrinter(process.stdout, false);
  void followConsoleLog(path, out.write, { stopped: () => stopped })
    .catch(() => {})
    .finally(() => out.end());
  return () => {
    stopped = true;
  };
}

export interface DirectUp {
  template: string;
  /** A revision other than the current one (what a tag or digest names). */
  revision?: string;
  opts: UpOpts;
  timeline?: Timeline;
}

export async function upDirect(ctx: CliContext, req: DirectUp): Promise<void> {
  const { opts, timeline, revision } = req;
  const backend = await selectBackend(opts.hypervisor, ctx.paths);
  timeline?.mark("backend_select");
  let abort: (() => Promise<void>) | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    info(`${sig === "SIGINT" ? "Interrupted" : sig}: stopping the VM`);
    const done = () => process.exit(130);
    if (abort) abort().then(done, done);
    else done();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const quiet = Boolean(opts.json);
  const started = await startVm(ctx.store, ctx.paths, backend, {
    template: req.template,
    ...(revision !== undefined ? { revision } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    cold: Boolean(opts.cold),
    noFallback: opts.fallback === false,
    ...(opts.cpus !== undefined ? { vcpus: opts.cpus } : {}),
    ...(opts.mem !== undefined ? { memMib: opts.mem } : {}),
    ports: opts.port,
    readyTimeoutMs: opts.readyTimeout * 1000,
    // The reason for a cold boot is always said (one line), even with --json (on stderr).
    onProgress: (m) => (quiet && !m.startsWith("Cold boot:") ? undefined : info(m)),
    onVm: (a) => {
      abort = a;
    },
    ...(timeline ? { mark: timeline.mark } : {}),
  });
  const r = started.record;
  if (opts.detach) {
    await detachVm(started);
    timeline?.mark("detach");
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    printReady(r, Boolean(opts.json), timeline ? { title: "timings", phases: timeline.phases } : undefined);
    return;
  }
  // Foreground: stream the console until Ctrl-C (stop the VM) or the VM ends by itself.
  success(
    `VM ${r.name} is ready (${r.mode}, ${r.ready_ms} ms); ports: ${portsText(started)}; Ctrl-C stops it`,
  );
  if (timeline) printTimeline("timings", timeline.phases);
  const stopFollow = followConsole(started.vm.consoleLog);
  abort = async () => {
    stopFollow();
    await started.vm.stop({ graceMs: 2000 }).catch(() => {});
    await removeVmDir(started.dir).catch(() => {});
  };
  await started.vm.exited;
  if (!interrupted) {
    stopFollow();
    await removeVmDir(started.dir).catch(() => {});
    info(`VM ${r.name} stopped`);
  }
}
