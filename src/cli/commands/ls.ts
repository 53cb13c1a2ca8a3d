import type { Command } from "commander";
import { pidAlive } from "../../host/process.js";
import { printJson, printLine } from "../ui/output.js";
import { sweepDeadVms } from "../../vm/start.js";
import { listVmNames, readVmRecord, type VmRecord } from "../../vm/records.js";
import type { VmInfo } from "../../sdk/types.js";
import type { CliContext } from "../context.js";
import { daemonCall, NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";

export interface VmRow extends VmRecord {
  state: "running" | "starting";
}

export async function listVms(ctx: CliContext): Promise<VmRow[]> {
  // VMs whose process is gone (a killed keeper, a host reboot) are swept, not listed.
  await sweepDeadVms(ctx.paths);
  const rows: VmRow[] = [];
  for (const name of await listVmNames(ctx.paths)) {
    const rec = await readVmRecord(ctx.paths.vm(name));
    if (!rec) continue;
    rows.push({
      ...rec,
      state: rec.pid > 0 && pidAlive(rec.pid) && rec.ready_ms !== undefined ? "running" : "starting",
    });
  }
  return rows;
}

export function registerLs(program: Command, ctx: CliContext): void {
  program
    .command("ls")
    .description("List running VMs")
    .option("--json", "print the VMs as JSON")
    .option("--no-daemon", NO_DAEMON_HELP)
    .addHelpText(
      "after",
      "\nWith a daemon running for the data dir, the VMs are as GET /v1/vms shows them (with their labels,\nTTL and paused state); without one, as their directories record them.",
    )
    .action(async (opts: { json?: boolean; daemon: boolean }) => {
      const daemon = await runningDaemon(ctx, opts);
      const rows: (VmRow | VmInfo)[] = daemon
        ? (await daemonCall<{ vms: VmInfo[] }>(daemon, { method: "GET", path: "/v1/vms" })).vms
        : await listVms(ctx);
      if (opts.json) {
        printJson(rows);
        return;
      }
      if (rows.length === 0) {
        printLine("No VMs running.");
        return;
      }
      const table = [["NAME", "TEMPLATE", "REVISION", "BACKEND", "MODE", "STATE", "PID", "PORTS"]];
      for (const r of rows)
        table.push([
          r.name,
          r.template,
          r.revision.slice(0, 12),
          r.backend,
          r.mode,
          r.state,
          String(r.pid),
          r.ports.map((p) => `${p.host}->${p.guest}`).join(",") || "-",
        ]);
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table)
        printLine(
          row
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd(),
        );
    });
}
