// `template list --json` over 500 templates. Target: at most 1.2x `mvmctl --version` and under 0.25 s wall.
// Baseline, in the same run: `mvmctl --version` (Node start-up plus loading the CLI, no store access).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newSpec } from "../src/core/spec.js";
import { DataPaths } from "../src/store/paths.js";
import { TemplateStore } from "../src/store/templates.js";
import { type BenchResult, CLI, median, printResult, timeProcess } from "./lib.js";

export async function benchTemplateList(count = 500, runs = 7): Promise<BenchResult> {
  const data = mkdtempSync(join(tmpdir(), "mvm-bench-list-"));
  const store = new TemplateStore(new DataPaths(data));
  for (let i = 0; i < count; i++) {
    await store.writeSpec(
      newSpec({
        template_id: `tpl-${String(i).padStart(4, "0")}`,
        flake_ref: "github:org/repo",
        profile: "default",
        role: "worker",
        vcpus: 2,
        mem_mib: 1024,
        data_disk_mib: 0,
      }),
    );
  }
  const env = { ...process.env, MVM_DATA_DIR: data };
  timeProcess(process.execPath, [CLI, "template", "list", "--json"], env); // warm the page cache
  const list: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < runs; i++) {
    base.push(timeProcess(process.execPath, [CLI, "--version"], env));
    list.push(timeProcess(process.execPath, [CLI, "template", "list", "--json"], env));
  }
  const value = median(list);
  const baseline = median(base);
  return {
    name: `template list --json over ${count} templates`,
    value,
    unit: "s",
    baseline: { name: "mvmctl --version", value: baseline },
    ratio: value / baseline,
    target: "≤ 1.2× mvmctl --version and < 0.25 s wall",
    pass: value <= 1.2 * baseline && value < 0.25,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) printResult(await benchTemplateList());
