// Start-up of VMs on QEMU (TCG here), each figure against a baseline measured in the same run:
//   - restore to ready inside `up`, and the wall time of `up -d` (a whole mvmctl process), against a
//     bare QEMU started to its QMP socket (the floor under any restore);
//   - restore against cold boot (`mvmctl template bench`, alternating so host load hits both alike),
//     and cold boot to ready on its own;
//   - a 2 GiB guest restores about as fast as a 256 MiB guest (memory is mapped, not read);
//   - host memory (PSS) of one more idle restored VM, against a bare QEMU's;
//   - how much of an idle guest's memory its snapshot allocates on disk.
// Each start's per-phase timeline (`up --timings --json`) is kept for the report: one restore, one
// cold boot. The template is the offline `http` preset (busybox httpd, health checked over HTTP).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bareQemuToQmp, pssMib } from "./bare-qemu.js";
import { ensureTestKit } from "../test/helpers/fixtures.js";
import { type BenchResult, CLI, median } from "./lib.js";
import { startServe } from "./serve-process.js";

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

interface UpJson {
  name: string;
  mode: string;
  ready_ms: number;
  pid: number;
  timings: { phase: string; ms: number }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function timelineNote(t: UpJson): string {
  return t.timings.map((p) => `${p.phase} ${p.ms.toFixed(0)}`).join(", ");
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

    // Cold boot vs restore, both to "every health check passes".
    const tb = JSON.parse(cli(["template", "bench", "web", "--runs", String(runs), "--json"], env)) as {
      cold: { median_ms: number };
      restore: { median_ms: number };
    };
    const speedup = tb.cold.median_ms / tb.restore.median_ms;

    // `up -d` of each size, alternating with a bare QEMU: ready_ms, the process's wall time, timeline.
    const up = (template: string, extra: string[] = []): UpJson & { wallMs: number } => {
      const t0 = process.hrtime.bigint();
      const out = JSON.parse(
        cli(["up", "--template", template, "-d", "--json", "--timings", ...extra], env),
      ) as UpJson;
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      return { ...out, wallMs };
    };
    const down = (name: string) => cli(["down", name], env);
    const smallRuns: (UpJson & { wallMs: number })[] = [];
    const bigMs: number[] = [];
    const bareMs: number[] = [];
    let barePss = 0;
    for (let i = 0; i < runs; i++) {
      const bare = await bareQemuToQmp(root, { settlePss: true });
      bareMs.push(bare.ms);
      barePss = bare.pssMib ?? 0;
      const s = up("web");
      down(s.name);
      if (s.mode !== "restore") throw new Error("web did not restore");
      smallRuns.push(s);
      const b = up("web2g");
      down(b.name);
      if (b.mode !== "restore") throw new Error("web2g did not restore");
      bigMs.push(b.ready_ms);
    }
    const readyMedian = median(smallRuns.map((r) => r.ready_ms));
    const wallMedian = median(smallRuns.map((r) => r.wallMs));
    const bigMedian = median(bigMs);
    const bareMedian = median(bareMs);
    const medianRun = [...smallRuns].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(smallRuns.length / 2)];

    // One more idle VM next to a running one: what it costs the host (PSS of its QEMU and of its
    // keeper process, if it has one). Kept by the daemon (the way VMs run as a platform) and, for
    // comparison, started without one (a keeper process per VM).
    const keeperPid = (name: string) => {
      const f = join(data, "vms", name, "vm.json");
      return existsSync(f)
        ? ((JSON.parse(readFileSync(f, "utf8")) as { keeper_pid?: number }).keeper_pid ?? 0)
        : 0;
    };
    const extraVmPss = async (): Promise<{ qemu: number; keeper: number }> => {
      const first = up("web");
      const second = up("web");
      await sleep(3000);
      const cost = { qemu: pssMib(second.pid), keeper: pssMib(keeperPid(second.name)) };
      down(second.name);
      down(first.name);
      return cost;
    };
    const direct = await extraVmPss();
    const serve = await startServe(env);
    let kept: { qemu: number; keeper: number };
    try {
      kept = await extraVmPss();
    } finally {
      await serve.stop();
    }
    const qemuPss = kept.qemu;
    const keeperPss = kept.keeper;

    // One cold boot's timeline.
    const cold = up("web", ["--cold"]);
    down(cold.name);

    const frac = (s: SnapshotJson) => s.snapshot.mem_allocated_bytes / s.snapshot.mem_size_bytes;
    const bareBase = { name: "bare QEMU start to its QMP socket", value: bareMedian };
    return [
      {
        name: "up --template -d wall, restore (no daemon)",
        value: wallMedian,
        unit: "ms",
        baseline: bareBase,
        ratio: wallMedian / bareMedian,
        target: "≤ 350 ms",
        pass: wallMedian <= 350,
        notes: `median of ${runs}; timeline of the median run (ms): ${medianRun ? timelineNote(medianRun) : "—"}`,
        group: "boot",
        ...(medianRun
          ? { timeline: { title: "restore (`up -d --timings`)", phases: medianRun.timings } }
          : {}),
      },
      {
        name: "restore to ready inside up",
        value: readyMedian,
        unit: "ms",
        baseline: bareBase,
        ratio: readyMedian / bareMedian,
        target: "≤ 150 ms",
        pass: readyMedian <= 150,
        notes: `median of ${runs}: from spawning the VMM to every health check passing`,
      },
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
        name: "cold boot to ready (http preset, TCG)",
        value: tb.cold.median_ms,
        unit: "ms",
        target: "≤ 7000 ms",
        pass: tb.cold.median_ms <= 7000,
        notes: `median of ${runs} (template bench); timeline of one cold up (ms): ${timelineNote(cold)}`,
        timeline: { title: "cold boot (`up -d --cold --timings`)", phases: cold.timings },
      },
      {
        name: "restore to ready of a 2 GiB guest",
        value: bigMedian,
        unit: "ms",
        baseline: { name: "restore to ready of a 256 MiB guest", value: readyMedian },
        ratio: bigMedian / readyMedian,
        target: "≤ 1.5× the 256 MiB guest",
        pass: bigMedian / readyMedian <= 1.5,
        notes: `${runs} alternating runs`,
      },
      {
        name: "host memory per extra idle 256 MiB VM (PSS)",
        value: qemuPss + keeperPss,
        unit: "MiB",
        baseline: { name: "a bare paused QEMU (the VMM alone)", value: barePss },
        ratio: (qemuPss + keeperPss) / barePss,
        target: "≤ 24 MiB, no per-VM Node process",
        pass: qemuPss + keeperPss <= 24 && keeperPss === 0,
        notes: `kept by the daemon: QEMU ${qemuPss.toFixed(1)} MiB + keeper process ${keeperPss.toFixed(1)} MiB; without a daemon: QEMU ${direct.qemu.toFixed(1)} MiB + keeper process ${direct.keeper.toFixed(1)} MiB; measured 3 s after the second of two restored VMs was ready`,
      },
      {
        name: "snapshot memory allocated on disk, idle 256 MiB guest",
        value: 100 * frac(small),
        unit: "%",
        target: "≤ 8% of guest memory",
        pass: frac(small) <= 0.08,
        notes: `${(small.snapshot.mem_allocated_bytes / 2 ** 20).toFixed(1)} MiB of 256 MiB`,
      },
      {
        name: "snapshot memory allocated on disk, idle 2 GiB guest",
        value: 100 * frac(big),
        unit: "%",
        target: "≤ 2% of guest memory",
        pass: frac(big) <= 0.02,
        notes: `${(big.snapshot.mem_allocated_bytes / 2 ** 20).toFixed(1)} MiB of 2048 MiB`,
      },
    ];
  } finally {
    spawnSync(process.execPath, [CLI, "down", "--all"], { env, stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}
