// The E2B-compatible path against our own, on one daemon (`mvmctl serve --e2b`, QEMU, TCG here):
// `Sandbox.create` → first `commands.run('true')` completed through the official `e2b` SDK, beside
// `Mvm.start` → first exec of the same command through mvmctl's SDK (src/sdk), both over the daemon's
// TCP listener with its API key, alternating, median and p95 of 20 each (after one warm-up each). The
// E2B SDK always runs a command as `/bin/bash -l -c <cmd>`, so our side runs exactly that argv: the
// difference is what the E2B path itself costs. The target is that it adds at most 50 ms. Sandboxes
// are killed between runs (not timed).
import { Sandbox } from "e2b";
import { Mvm } from "../src/sdk/index.js";
import { startE2bHost, useE2bHost } from "../test/e2b/fixture.js";
import { type BenchResult, median } from "./lib.js";

/** The E2B path may add this much to ours. */
const TARGET_MS = 50;

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] as number;
}

async function timed(fn: () => Promise<() => Promise<unknown>>): Promise<number> {
  const t0 = process.hrtime.bigint();
  const cleanup = await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await cleanup();
  return ms;
}

export async function benchE2b(runs = 20): Promise<BenchResult[]> {
  const host = await startE2bHost();
  try {
    useE2bHost(host);
    const mvm = new Mvm({ url: host.url, apiKey: host.apiKey });
    const viaE2b = () =>
      timed(async () => {
        const sb = await Sandbox.create("box", { timeoutMs: 300_000 });
        const r = await sb.commands.run("true");
        if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode} through the e2b SDK`);
        return () => sb.kill();
      });
    const viaMvm = () =>
      timed(async () => {
        const vm = await mvm.start("box", { ttlMs: 300_000 });
        // The argv the E2B SDK sends for commands.run("true").
        const r = await vm.exec(["/bin/bash", "-l", "-c", "true"]);
        if (r.exit_code !== 0) throw new Error(`true exited ${r.exit_code} through mvmctl's SDK`);
        return () => vm.stop();
      });
    await viaE2b();
    await viaMvm();
    const e2bMs: number[] = [];
    const mvmMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      e2bMs.push(await viaE2b());
      mvmMs.push(await viaMvm());
    }
    const figure = (stat: string, e2b: number, ours: number): BenchResult => ({
      name: `Sandbox.create → first commands.run('true'), e2b SDK (${stat})`,
      value: e2b,
      unit: "ms",
      baseline: { name: `mvmctl SDK start → first exec of /bin/bash -l -c true (${stat})`, value: ours },
      ratio: e2b / ours,
      target: `≤ ${TARGET_MS} ms more than mvmctl's SDK`,
      pass: e2b - ours <= TARGET_MS,
      notes: `${stat} of ${runs}, alternating; the E2B path adds ${(e2b - ours).toFixed(1)} ms`,
      group: "e2b",
    });
    return [figure("median", median(e2bMs), median(mvmMs)), figure("p95", p95(e2bMs), p95(mvmMs))];
  } finally {
    await host.close();
  }
}
