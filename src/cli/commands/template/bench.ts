import type { Command } from "commander";
import { formatBytes } from "../../../core/sizes.js";
import { info, printJson, printLine } from "../../ui/output.js";
import {
  type HypervisorChoice,
  hypervisorHelp,
  parseHypervisor,
  selectBackend,
} from "../../../hypervisor/index.js";
import { benchTemplate } from "../../../vm/bench.js";
import type { CliContext } from "../../context.js";
import * as parse from "../../parse.js";
import { DEFAULT_READY_TIMEOUT_S, parseReadyTimeout } from "../../vm-options.js";

interface BenchOpts {
  runs: number;
  json?: boolean;
  hypervisor: HypervisorChoice;
  readyTimeout: number;
}

export function registerBench(template: Command, ctx: CliContext): void {
  template
    .command("bench")
    .description("Measure cold-boot-to-ready against restore-to-ready for a template with a snapshot")
    .argument("<name>", "template name", parse.name)
    .option(
      "--runs <n>",
      "cold boots and restores to measure (alternating)",
      parse.wholeNumber("--runs", 1, 100),
      3,
    )
    .option("--hypervisor <h>", hypervisorHelp(), parseHypervisor, "auto")
    .option(
      "--ready-timeout <s>",
      "seconds to wait for each start",
      parseReadyTimeout,
      DEFAULT_READY_TIMEOUT_S,
    )
    .option("--json", "print the result as JSON")
    .action(async (name: string, opts: BenchOpts) => {
      const backend = await selectBackend(opts.hypervisor, ctx.paths);
      const r = await benchTemplate(ctx.store, ctx.paths, backend, name, {
        runs: opts.runs,
        readyTimeoutMs: opts.readyTimeout * 1000,
        onProgress: (m) => (opts.json ? undefined : info(m)),
      });
      if (opts.json) {
        printJson(r);
        return;
      }
      const s = r.snapshot;
      printLine(
        `Template:         ${r.template} (${r.revision.slice(0, 12)}) on ${r.backend}, ${r.runs} run(s)`,
      );
      printLine(`Cold to ready:    ${r.cold.median_ms} ms (median)`);
      printLine(`Restore to ready: ${r.restore.median_ms} ms (median)`);
      printLine(`Speed-up:         ${r.ratio.toFixed(1)}x`);
      printLine(`Guest memory:     ${r.guest_mem_mib} MiB`);
      printLine(
        `Snapshot memory:  ${formatBytes(s.mem_bytes)} apparent, ${formatBytes(s.mem_allocated_bytes)} allocated (${((100 * s.mem_allocated_bytes) / Math.max(1, s.mem_bytes)).toFixed(1)}%)`,
      );
      printLine(
        `Snapshot state:   ${formatBytes(s.vmstate_bytes)}; disk ${formatBytes(s.disk_allocated_bytes)}`,
      );
    });
}
