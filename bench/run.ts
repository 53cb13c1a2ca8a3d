// `npm run bench`: every benchmark, each against its baseline in the same run, then bench/report.md and
// bench/chart.svg. MVM_BENCH_ONLY=<substring> re-runs a subset: the other benchmarks keep their figures
// from bench/results.json (each figure is still compared with a baseline from its own run).
// Prerequisites are checked first: a benchmark whose programs are missing is skipped, and a baseline
// whose program is missing is left out, each saying what to install. `--check` only prints that.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchBuildNoop } from "./build-noop.js";
import { benchCliStartup } from "./cli-startup.js";
import { benchDaemon } from "./daemon.js";
import { benchE2b } from "./e2b.js";
import { benchExec } from "./exec.js";
import { type BenchResult, printResult } from "./lib.js";
import { checkPrerequisites, describeReadiness } from "./prerequisites.js";
import { benchRegistry } from "./registry.js";
import { benchRestore } from "./restore.js";
import { type ChartGroup, renderChart, renderMarkdown } from "./report.js";
import { benchTemplateList } from "./template-list.js";
import { benchVerify } from "./verify.js";

const BENCHES: { name: string; run: () => Promise<BenchResult | BenchResult[]> }[] = [
  { name: "cli-startup", run: () => benchCliStartup() },
  { name: "template-list", run: () => benchTemplateList() },
  { name: "build-noop", run: () => benchBuildNoop() },
  { name: "registry", run: () => benchRegistry() },
  { name: "restore", run: () => benchRestore() },
  { name: "exec", run: () => benchExec() },
  { name: "daemon", run: () => benchDaemon() },
  { name: "e2b", run: () => benchE2b() },
  { name: "verify", run: () => benchVerify() },
];

const GROUP_TITLES: Record<string, { title: string; unit: string }> = {
  boot: { title: "Cold boot vs restore to ready", unit: "ms" },
  transfer: { title: "Transfer throughput", unit: "MiB/s" },
  memory: { title: "Peak RSS while transferring a 2 GiB artifact", unit: "MiB" },
  exec: { title: "exec round trip vs a health request", unit: "ms" },
  copy: { title: "cp of 50 MiB vs cat on the host", unit: "MiB/s" },
  verify: { title: "template verify: files hashed side by side vs one after another", unit: "MiB/s" },
  daemon: { title: "The daemon: API create-to-ready and up -d", unit: "ms" },
  e2b: { title: "Sandbox create → first command: e2b SDK vs mvmctl SDK", unit: "ms" },
};

function chartGroups(results: BenchResult[]): ChartGroup[] {
  const groups = new Map<string, ChartGroup>();
  for (const r of results) {
    if (!r.group) continue;
    const meta = GROUP_TITLES[r.group] ?? { title: r.group, unit: r.unit };
    const g = groups.get(r.group) ?? { title: meta.title, unit: meta.unit, bars: [] };
    if (r.baseline && !g.bars.some((b) => b.label === r.baseline!.name))
      g.bars.push({ label: r.baseline.name, value: r.baseline.value });
    g.bars.push({ label: r.name, value: r.value });
    groups.set(r.group, g);
  }
  return [...groups.values()];
}

async function main(): Promise<number> {
  const only = process.env.MVM_BENCH_ONLY ?? "";
  const readiness = checkPrerequisites(BENCHES.filter((b) => b.name.includes(only)).map((b) => b.name));
  console.log("== prerequisites");
  for (const r of readiness) for (const line of describeReadiness(r)) console.log(line);
  if (process.argv.includes("--check")) return 0;
  const skipped = new Set(readiness.filter((r) => r.missing.length > 0).map((r) => r.bench));
  const dir = join(import.meta.dirname, "..", "..", "bench");
  const saved = join(dir, "results.json");
  const previous: Record<string, BenchResult[]> =
    only && existsSync(saved)
      ? (JSON.parse(readFileSync(saved, "utf8")) as Record<string, BenchResult[]>)
      : {};
  const byBench: Record<string, BenchResult[]> = {};
  let failed = 0;
  for (const b of BENCHES) {
    if (!b.name.includes(only)) {
      if (previous[b.name]) byBench[b.name] = previous[b.name]!;
      continue;
    }
    if (skipped.has(b.name)) continue;
    console.log(`== ${b.name}`);
    try {
      const r = await b.run();
      byBench[b.name] = Array.isArray(r) ? r : [r];
      for (const x of byBench[b.name]!) printResult(x);
    } catch (e) {
      failed++;
      console.log(`ERROR ${b.name}: ${(e as Error).message}`);
    }
  }
  const results = BENCHES.flatMap((b) => byBench[b.name] ?? []);
  writeFileSync(saved, `${JSON.stringify(byBench, null, 2)}\n`);
  const accel = process.env.MVM_QEMU_ACCEL ?? "auto (TCG on this machine: no usable KVM)";
  writeFileSync(join(dir, "report.md"), renderMarkdown(results, new Date(), accel));
  writeFileSync(join(dir, "chart.svg"), renderChart(chartGroups(results)));
  console.log(
    `wrote ${join(dir, "report.md")} and chart.svg: ${results.filter((r) => r.pass).length}/${results.length} targets met`,
  );
  if (skipped.size > 0) console.log(`skipped for missing prerequisites: ${[...skipped].join(", ")}`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
