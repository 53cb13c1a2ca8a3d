import type { Command } from "commander";
import { MvmError, messageOf, usageError } from "../../core/errors.js";
import { validateIdent } from "../../core/names.js";
import { info, printJson, warn } from "../ui/output.js";
import { BACKEND_MODULES } from "../../hypervisor/index.js";
import { stopVm } from "../../vm/stop.js";
import { listVmNames } from "../../vm/records.js";
import type { VmInfo } from "../../sdk/types.js";
import type { CliContext } from "../context.js";
import { daemonCall, daemonDo, NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";

/**
 * Host resources (TAP devices) of VMs that are gone (an mvmctl killed before it cleaned up), every
 * backend's. Best effort: the VMs are already stopped, so a failure here is only a warning.
 */
async function reapLeftovers(ctx: CliContext): Promise<string[]> {
  const removed: string[] = [];
  for (const m of BACKEND_MODULES) {
    try {
      removed.push(...(await m.reapLeftovers(ctx.paths)));
    } catch (e) {
      warn(`could not remove leftover TAP devices: ${messageOf(e)}`);
    }
  }
  return removed;
}

export function registerDown(program: Command, ctx: CliContext): void {
  program
    .command("down")
    .description("Stop a VM (or all of them) and remove its files")
    .argument("[name]", "VM name (see 'mvmctl ls')")
    .option("--all", "stop every VM")
    .option("--json", "print the names of the stopped VMs as JSON")
    .option("--no-daemon", NO_DAEMON_HELP)
    .action(async (name: string | undefined, opts: { all?: boolean; json?: boolean; daemon: boolean }) => {
      if (name && opts.all) throw usageError("give a VM name or --all, not both");
      if (!name && !opts.all) throw usageError("give a VM name or --all");
      if (name) validateIdent(name, "VM name");
      const daemon = await runningDaemon(ctx, opts);
      if (daemon) {
        // Through the daemon, so its event stream and bookkeeping see the VMs go.
        const names = opts.all
          ? (await daemonCall<{ vms: VmInfo[] }>(daemon, { method: "GET", path: "/v1/vms" })).vms.map(
              (v) => v.name,
            )
          : [name as string];
        for (const n of names) {
          await daemonDo(daemon, { method: "DELETE", path: `/v1/vms/${encodeURIComponent(n)}` });
          if (!opts.json) info(`Stopped ${n}`);
        }
        const taps = opts.all ? await reapLeftovers(ctx) : [];
        if (!opts.json && taps.length > 0) info(`Removed leftover TAP devices: ${taps.join(", ")}`);
        if (opts.json) printJson(opts.all ? { stopped: names, removed_taps: taps } : { stopped: names });
        return;
      }
      let names: string[];
      if (opts.all) names = await listVmNames(ctx.paths);
      else {
        validateIdent(name as string, "VM name");
        if (!(await listVmNames(ctx.paths)).includes(name as string))
          throw new MvmError("not_found", `no VM named ${name}`, { hint: "List VMs with 'mvmctl ls'." });
        names = [name as string];
      }
      for (const n of names) {
        await stopVm(ctx.paths, n);
        if (!opts.json) info(`Stopped ${n}`);
      }
      const removedTaps = opts.all ? await reapLeftovers(ctx) : [];
      if (!opts.json && removedTaps.length > 0)
        info(`Removed leftover TAP devices: ${removedTaps.join(", ")}`);
      if (opts.json) printJson(opts.all ? { stopped: names, removed_taps: removedTaps } : { stopped: names });
    });
}
