// The daemon (`mvmctl serve`), against baselines measured in the same run:
//   1. API create-to-ready (POST /v1/vms until it answers 201, a restore of the http preset), median
//      and p95 of 20 sequential creates and of 8 concurrent ones, against a bare QEMU started with
//      the same machine and paused (-S) until its QMP socket greets: the floor under any restore.
//      Target: the median ≤ 3× that floor.
//   2. `mvmctl up -d` wall time through a running daemon, against `up -d --no-daemon`.
//      Target: ≤ 350 ms with the daemon.
//   3. Host memory per idle sandbox: the proportional set size (PSS) of every process the VM costs,
//      less the guest RAM mapping itself (what the host pays beyond guest memory). Target: no
//      per-VM Node process, so that the overhead is the VMM's alone.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ensureTestKit } from "../test/helpers/fixtures.js";
import { bareQemuToQmp } from "./bare-qemu.js";
import { type BenchResult, CLI, median, timeProcess } from "./lib.js";
import { type ServeProcess, startServe } from "./serve-process.js";

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

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] as number;
}

function api(
  socket: string,
  method: string,
  path: string,
  json?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = request(
      {
        socketPath: socket,
        // A fresh connection each time: the measuring loops block this process for seconds at a
        // time (spawnSync), long enough for the daemon to close an idle kept-alive connection.
        agent: false,
        method,
        path,
        headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** PSS in KiB of a process, and of its mapping of `guestKiB` (the guest RAM) when it has one. */
function pss(pid: number, guestKiB: number): { total: number; guest: number } {
  let total = 0;
  let guest = 0;
  let size = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (!m) continue;
    if (m[1] === "Size") size = Number(m[2]);
    if (m[1] === "Pss") {
      total += Number(m[2]);
      if (size === guestKiB) guest += Number(m[2]);
    }
  }
  return { total, guest };
}

export async function benchDaemon(): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), "mvm-bench-daemon-"));
  const data = join(root, "data");
  const env = { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1", MVM_QEMU_ACCEL: "tcg" };
  let daemon: ServeProcess | undefined;
  try {
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    cli(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", root], env);
    cli(["template", "create", "web", "--flake", join(root, "web"), "--mem", "256", "--cpus", "1"], env);
    cli(["template", "build", "web", "--snapshot"], env);
    daemon = await startServe(env);
    const sock = daemon.socket;

    const bare: number[] = [];
    for (let i = 0; i < 10; i++) bare.push((await bareQemuToQmp(root)).ms);
    const floor = median(bare);

    type Phases = { phase: string; ms: number }[];
    const timelines = new Map<number, Phases>();
    const create = async (name: string): Promise<number> => {
      const t0 = performance.now();
      const r = await api(sock, "POST", "/v1/vms", { template: "web", name });
      if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
      const answer = JSON.parse(r.body) as { mode: string; timings?: Phases };
      if (answer.mode !== "restore") throw new Error(`${name} did not restore`);
      const ms = performance.now() - t0;
      if (answer.timings) timelines.set(ms, answer.timings);
      return ms;
    };
    const seq: number[] = [];
    for (let i = 0; i < 20; i++) {
      seq.push(await create(`seq${i}`));
      await api(sock, "DELETE", `/v1/vms/seq${i}`);
    }
    // The daemon's own phases of the median sequential create (from its answer).
    const medianRun = timelines.get([...seq].sort((a, b) => a - b)[Math.floor(seq.length / 2)] ?? -1);
    const phasesNote = medianRun
      ? `; the daemon's phases of the median create (ms): ${medianRun.map((p) => `${p.phase} ${p.ms.toFixed(0)}`).join(", ")}`
      : "";
    const conc = await Promise.all(Array.from({ length: 8 }, (_, i) => create(`par${i}`)));
    for (let i = 0; i < 8; i++) await api(sock, "DELETE", `/v1/vms/par${i}`);

    const upWall = (extra: string[]): number[] => {
      const out: number[] = [];
      for (let i = 0; i < 5; i++) {
        out.push(
          1000 * timeProcess(process.execPath, [CLI, "up", "web", "-d", "--name", `up${i}`, ...extra], env),
        );
        cli(["down", `up${i}`], env);
      }
      return out;
    };
    const viaDaemon = median(upWall([]));
    const direct = median(upWall(["--no-daemon"]));

    // One idle sandbox: what its processes cost beyond the guest's RAM.
    await create("idle");
    await new Promise((r) => setTimeout(r, 3000));
    const vm = JSON.parse(readFileSync(join(data, "vms", "idle", "vm.json"), "utf8")) as {
      pid: number;
      keeper_pid?: number;
    };
    const qemu = pss(vm.pid, 256 * 1024);
    const keeper = vm.keeper_pid ? pss(vm.keeper_pid, -1).total : 0;
    const overheadMiB = (qemu.total - qemu.guest + keeper) / 1024;
    await api(sock, "DELETE", "/v1/vms/idle");

    return [
      {
        name: "API create-to-ready, 20 sequential (median)",
        value: median(seq),
        unit: "ms",
        baseline: { name: "bare QEMU start to QMP", value: floor },
        ratio: median(seq) / floor,
        target: "≤ 3× bare QEMU start to QMP",
        pass: median(seq) <= 3 * floor,
        notes: `p95 ${p95(seq).toFixed(0)} ms; bare QEMU median of 10${phasesNote}`,
        group: "daemon",
        ...(medianRun
          ? { timeline: { title: "API create through the daemon (its own phases)", phases: medianRun } }
          : {}),
      },
      {
        name: "API create-to-ready, 8 concurrent (median)",
        value: median(conc),
        unit: "ms",
        baseline: { name: "bare QEMU start to QMP", value: floor },
        ratio: median(conc) / floor,
        target: "≤ 3× bare QEMU start to QMP",
        pass: median(conc) <= 3 * floor,
        notes: `p95 ${p95(conc).toFixed(0)} ms`,
      },
      {
        name: "mvmctl up -d through the daemon (wall)",
        value: viaDaemon,
        unit: "ms",
        baseline: { name: "mvmctl up -d --no-daemon", value: direct },
        ratio: viaDaemon / direct,
        target: "≤ 350 ms",
        pass: viaDaemon <= 350,
        notes: "median of 5 each",
        group: "daemon",
      },
      {
        name: "host memory per idle sandbox beyond guest RAM (PSS)",
        value: overheadMiB,
        unit: "MiB",
        target: "no per-VM Node process (the VMM alone)",
        pass: !vm.keeper_pid,
        notes: `QEMU ${((qemu.total - qemu.guest) / 1024).toFixed(1)} MiB beyond its guest RAM mapping${vm.keeper_pid ? `, per-VM Node keeper ${(keeper / 1024).toFixed(1)} MiB` : ""}`,
      },
    ];
  } finally {
    await daemon?.stop();
    spawnSync(process.execPath, [CLI, "down", "--all", "--no-daemon"], { env, stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}
