import type { Command } from "commander";
import { parseTemplateRef } from "../../core/refs.js";
import { resolveRef } from "../../store/refs.js";
import { resolveUpTarget } from "../../manifest/up-target.js";
import { hypervisorHelp, parseHypervisor } from "../../hypervisor/index.js";
import { Timeline } from "../../host/timeline.js";
import type { CliContext } from "../context.js";
import type { UpOpts } from "./up-report.js";
import { NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";
import * as parse from "../parse.js";
import { DEFAULT_READY_TIMEOUT_S, parsePort, parseReadyTimeout } from "../vm-options.js";

export function registerUp(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .aliases(["run", "start"])
    .description("Start a VM from a template: restore its snapshot when compatible, else cold-boot")
    .argument(
      "[template]",
      "NAME, NAME:TAG, NAME@sha256:DIGEST, or a directory holding mvm.toml (default: the nearest mvm.toml)",
    )
    .option("--template <name>", "template to run (same as the positional argument)", (v: string) => {
      parseTemplateRef(v);
      return v;
    })
    .option("--name <vm>", "VM name (default: <template>-<4 hex>)")
    .option("-d, --detach", "return once the VM is ready; it keeps running until 'mvmctl down'")
    .option("-p, --port <host:guest>", "forward a host TCP port to the guest (repeatable)", parsePort, [])
    .option("--cold", "boot from scratch even if a snapshot exists")
    .option(
      "--no-fallback",
      "fail instead of cold-booting when the snapshot cannot be restored (missing, incompatible, damaged, or its restore fails)",
    )
    .option("--cpus <n>", "vCPUs (default: the template's)", parse.cpus)
    .option("--mem <size>", "memory, e.g. 512M or 2G (default: the template's)", parse.mem)
    .option("--hypervisor <h>", hypervisorHelp(), parseHypervisor, "auto")
    .option(
      "--ready-timeout <s>",
      "seconds to wait until every health check passes",
      parseReadyTimeout,
      DEFAULT_READY_TIMEOUT_S,
    )
    .option("--json", "with -d: print {name, backend, mode, ready_ms, ports, pid}")
    .option("--no-daemon", NO_DAEMON_HELP)
    .option(
      "--timings",
      "after the start, print how long each phase took (CLI load, image checks, VMM spawn, QMP, memory load, resume, agent, readiness); with --json, a timings array",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  mvmctl up web -p 8080:8080\n  mvmctl up web:stable -d\n  mvmctl up            # the template of the nearest mvm.toml\n  mvmctl up ./web -d --json\n\nReady means the guest agent answers and every health check of the template passes. A snapshot\nthat does not match the template (sizing, host, backend) or is damaged is not restored, and a restore\nthat fails before the guest is ready falls back to a cold boot; either way one 'Cold boot:' line\nsays why. A failed start keeps its console log in <data>/logs (the error names it). In the\nforeground the console is streamed (control characters escaped; 'mvmctl logs --raw' shows the\nbytes as they are) and Ctrl-C stops the VM; with -d the VM runs on (see 'mvmctl ls',\n'mvmctl logs', 'mvmctl down').",
    )
    .action(async (arg: string | undefined, opts: UpOpts) => {
      const timeline = opts.timings ? new Timeline("cli_load") : undefined;
      const target = await resolveUpTarget(arg, opts.template, (n) => ctx.store.exists(n));
      const ref = parseTemplateRef(target.ref);
      const revision = await resolveRef(ctx.store, ref);
      // A detached start the API can express goes through a running daemon.
      const viaDaemon =
        opts.detach &&
        !opts.cold &&
        opts.fallback !== false &&
        revision === undefined &&
        opts.hypervisor === "auto" &&
        opts.readyTimeout === DEFAULT_READY_TIMEOUT_S &&
        opts.port.every((p) => p.hostAddress === undefined);
      const daemon = viaDaemon ? await runningDaemon(ctx, opts) : undefined;
      timeline?.mark("template_resolve");
      if (daemon) {
        const { upThroughDaemon } = await import("./up-daemon.js");
        await upThroughDaemon(daemon, {
          template: ref.name,
          ...(opts.name !== undefined ? { name: opts.name } : {}),
          ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
          ...(opts.mem !== undefined ? { mem: opts.mem } : {}),
          ports: opts.port.map((p) => ({ host: p.host, guest: p.guest })),
          ...(opts.json ? { json: true } : {}),
          ...(timeline ? { timeline } : {}),
        });
        return;
      }
      const { upDirect } = await import("./up-direct.js");
      await upDirect(ctx, {
        template: ref.name,
        ...(revision !== undefined ? { revision } : {}),
        opts,
        ...(timeline ? { timeline } : {}),
      });
    });
}
