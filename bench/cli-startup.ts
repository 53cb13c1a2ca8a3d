// CLI start-up: `mvmctl --version` against bare `node -e 0`, measured alternately in the same run.
// Target: the CLI adds at most 40 ms to Node's own start-up.
import { type BenchResult, CLI, median, printResult, timeProcess } from "./lib.js";

export async function benchCliStartup(runs = 15): Promise<BenchResult> {
  timeProcess(process.execPath, [CLI, "--version"]); // warm the page cache
  const node: number[] = [];
  const cli: number[] = [];
  for (let i = 0; i < runs; i++) {
    node.push(timeProcess(process.execPath, ["-e", "0"]));
    cli.push(timeProcess(process.execPath, [CLI, "--version"]));
  }
  const value = median(cli);
  const baseline = median(node);
  return {
    name: "mvmctl --version",
    value,
    unit: "s",
    baseline: { name: "node -e 0", value: baseline },
    ratio: value / baseline,
    target: "≤ node -e 0 + 40 ms",
    pass: value - baseline <= 0.04,
    notes: `medians of ${runs} alternating runs; CLI overhead over bare Node ${((value - baseline) * 1000).toFixed(0)} ms`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) printResult(await benchCliStartup());
