import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

/** One measured figure, with its baseline from the same run and the target it is judged against. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  target: string;
  pass: boolean;
  notes?: string;
  /** Chart panel this figure belongs to ("boot", "transfer", "memory", …); omitted figures are not drawn. */
  group?: string;
  /** A start's per-phase timeline (`up --timings --json`), shown as its own table in the report. */
  timeline?: { title: string; phases: { phase: string; ms: number }[] };
}

export const CLI = resolve(import.meta.dirname, "..", "src", "cli", "main.js");

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall time of one process run, in seconds; throws if it fails. */
export function timeProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 << 20 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return s;
}

export function printResult(r: BenchResult): void {
  const ratio = r.ratio === undefined ? "" : `  ratio ${r.ratio.toFixed(2)}x vs ${r.baseline?.name}`;
  console.log(
    `${r.pass ? "PASS" : "MISS"}  ${r.name}: ${r.value.toFixed(3)} ${r.unit}${ratio}  (target: ${r.target})`,
  );
}
