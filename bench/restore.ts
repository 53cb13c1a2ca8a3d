// Instant restore on QEMU (TCG here), three targets, each against a baseline measured
// in the same run:
//   1. restore-to-ready at least 20x faster than cold-boot-to-ready (`mvmctl template bench`, which
//      alternates cold boots and restores so host load hits both alike);
//   2. a 2 GiB guest restores in at most 1.5x the time of a 256 MiB guest (guest memory is mapped
//      from the snapshot, not read before resuming) — `up -d` of each, alternating;
//   3. an idle guest's snapshot allocates at most 15% of its memory on disk.
// The template is the offline `http` preset (busybox httpd, health checked over HTTP), built and
// snapshotted once per memory size before measuring.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ensureTestKit } from "../test/helpers/fixtures.js";
import { type BenchResult, CLI, median } from "./lib.js";

function cli(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`mvmctl ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

interface SnapshotJson {
  snapshot: { mem_size_bytes: number; mem_allocated_bytes: number };
}

export async function benchRestore(runs = Number(process.env.MVM_BENCH_RUNS ?? 3)): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), "mvm-bench-restore-"));
  const data = join(root, "data");
  const env = { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" };
  try {
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    cli(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", root], env);
    const flake = join(root, "web");
    cli(["template", "create", "web", "--flake", flake, "--mem", "256", "--cpus", "1"], env);
    cli(["template", "create", "web2g", "--flake", flake, "--mem", "2048", "--cpus", "1"], env);
    const small = JSON.parse(cli(["template", "build", "web", "--snapshot", "--json"], env)) as SnapshotJson;
    const big = JSON.parse(cli(["template", "build", "web2g", "--snapshot", "--json"], env)) as SnapshotJson;

    // 1. Cold boot vs restore, both to "every health check passes".
    const tb = JSON.parse(cli(["template", "bench", "web", "--runs", String(runs), "--json"], env)) as {
      cold: { median_ms: number };
      restore: { median_ms: number };
    };
    const speedup = tb.cold.median_ms / tb.restore.median_ms;

    // 2. Restore of a 2 GiB guest against a 256 MiB guest, alternating.
    const upMs = (template: string): number => {
      const out = JSON.parse(cli(["up", "--template", template, "-d", "--json"], env)) as {
        name: string;
        mode: string;
        ready_ms: number;
      };
      cli(["down", out.name], env);
      if (out.mode !== "restore") throw new Error(`${template} did not restore`);
      return out.ready_ms;
    };
    const smallMs: number[] = [];
    const bigMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      smallMs.push(upMs("web"));
      bigMs.push(upMs("web2g"));
    }
    const smallMedian = median(smallMs);
    const bigMedian = median(bigMs);

    const frac = (s: SnapshotJson) => s.snapshot.mem_allocated_bytes / s.snapshot.mem_size_bytes;
    return [
      {
        name: "restore to ready (http preset, 256 MiB, QEMU)",
        value: tb.restore.median_ms,
        unit: "ms",
        baseline: { name: "cold boot to ready", value: tb.cold.median_ms },
        ratio: tb.restore.median_ms / tb.cold.median_ms,
        target: "≥ 20× faster than cold boot (ratio ≤ 0.05)",
        pass: speedup >= 20,
        notes: `speed-up ${speedup.toFixed(1)}×; ${runs} alternating runs`,
        group: "boot",
      },
      {
        name: "restore to ready of a 2 GiB guest",
        value: bigMedian,
        unit: "ms",
        baseline: { name: "restore to ready of a 256 MiB guest", value: smallMedian },
        ratio: bigMedian / smallMedian,
        target: "≤ 1.5× the 256 MiB guest",
        pass: bigMedian / smallMedian <= 1.5,
        notes: `${runs} alternating runs`,
      },
      {
        name: "snapshot memory allocated on disk, idle 256 MiB guest",
        value: (100 * small.snapshot.mem_allocated_bytes) / small.snapshot.mem_size_bytes,
        unit: "%",
        target: "≤ 15% of guest memory",
        pass: frac(small) <= 0.15,
        notes: `${(small.snapshot.mem_allocated_bytes / 2 ** 20).toFixed(1)} MiB of 256 MiB`,
      },
      {
        name: "snapshot memory allocated on disk, idle 2 GiB guest",
        value: (100 * big.snapshot.mem_allocated_bytes) / big.snapshot.mem_size_bytes,
        unit: "%",
        target: "≤ 15% of guest memory",
        pass: frac(big) <= 0.15,
        notes: `${(big.snapshot.mem_allocated_bytes / 2 ** 20).toFixed(1)} MiB of 2048 MiB`,
      },
    ];
  } finally {
    spawnSync(process.execPath, [CLI, "down", "--all"], { env, stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}
