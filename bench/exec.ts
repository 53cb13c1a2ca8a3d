// Working inside a restored VM (QEMU, TCG here), each figure against a baseline from the same run:
//   1. exec round trip: `exec VM -- true` through the keeper's shared guest socket (median of 20)
//      against a `health` request on the same VM and connection (median of 20); the wall time of
//      the whole `mvmctl exec VM -- true` process is given in the notes;
//   2. `mvmctl cp` of a 50 MiB file into the guest and back out, against `cat` of the same file on
//      the host (page cache warm), in MiB/s.
// The template is the offline `http` preset, built and snapshotted once; the VM is restored by `up -d`.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { GuestChannel } from "../src/guest/channel.js";
import { startExec } from "../src/guest/exec.js";
import { ensureTestKit } from "../test/helpers/fixtures.js";
import { type BenchResult, CLI, median, timeProcess } from "./lib.js";

const MiB = 1024 * 1024;
const FILE_MIB = 50;

function cli(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`mvmctl ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const discard = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

async function msOf(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export async function benchExec(runs = 20): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), "mvm-bench-exec-"));
  const data = join(root, "data");
  const env = { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" };
  try {
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    cli(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", root], env);
    cli(["template", "create", "web", "--flake", join(root, "web"), "--mem", "512", "--cpus", "1"], env);
    cli(["template", "build", "web", "--snapshot"], env);
    const up = JSON.parse(cli(["up", "--template", "web", "--name", "bench", "-d", "--json"], env)) as {
      mode: string;
    };
    if (up.mode !== "restore") throw new Error("the VM did not restore");
    const rec = JSON.parse(readFileSync(join(data, "vms", "bench", "vm.json"), "utf8")) as {
      guest_channel: string;
    };

    // 1. exec true vs health, alternating on one connection.
    const ch = await GuestChannel.connectUnix(rec.guest_channel, { timeoutMs: 30_000 });
    const execMs: number[] = [];
    const healthMs: number[] = [];
    try {
      for (let i = 0; i < 3; i++)
        await startExec(ch, { argv: ["true"] }, { stdout: discard(), stderr: discard() }).result;
      for (let i = 0; i < runs; i++) {
        healthMs.push(await msOf(() => ch.health()));
        execMs.push(
          await msOf(async () => {
            const r = await startExec(ch, { argv: ["true"] }, { stdout: discard(), stderr: discard() })
              .result;
            if (r.code !== 0) throw new Error(`true exited ${r.code}`);
          }),
        );
      }
    } finally {
      ch.close();
    }
    const cliMs = Array.from(
      { length: 5 },
      () => 1000 * timeProcess(process.execPath, [CLI, "exec", "bench", "--", "true"], env),
    );

    // 2. cp 50 MiB in and out vs host cat.
    const file = join(root, "payload.bin");
    writeFileSync(file, randomBytes(FILE_MIB * MiB));
    const catS = median(Array.from({ length: 3 }, () => timeProcess("cat", [file], env)));
    const inS = timeProcess(process.execPath, [CLI, "cp", file, "bench:/tmp/payload.bin"], env);
    const outS = timeProcess(
      process.execPath,
      [CLI, "cp", "bench:/tmp/payload.bin", join(root, "back.bin")],
      env,
    );
    const catRate = FILE_MIB / catS;
    const execMedian = median(execMs);
    const healthMedian = median(healthMs);
    return [
      {
        name: "exec VM -- true, round trip (restored QEMU guest)",
        value: execMedian,
        unit: "ms",
        baseline: { name: "health request on the same VM", value: healthMedian },
        ratio: execMedian / healthMedian,
        target: "≤ 10× a health request",
        pass: execMedian / healthMedian <= 10,
        notes: `median of ${runs}, alternating; whole \`mvmctl exec -- true\` process: median ${median(cliMs).toFixed(0)} ms of 5`,
        group: "exec",
      },
      {
        name: `cp ${FILE_MIB} MiB into the guest`,
        value: FILE_MIB / inS,
        unit: "MiB/s",
        baseline: { name: "cat on the host", value: catRate },
        ratio: FILE_MIB / inS / catRate,
        target: "≥ 4 MiB/s under TCG",
        pass: FILE_MIB / inS >= 4,
        group: "copy",
      },
      {
        name: `cp ${FILE_MIB} MiB out of the guest`,
        value: FILE_MIB / outS,
        unit: "MiB/s",
        baseline: { name: "cat on the host", value: catRate },
        ratio: FILE_MIB / outS / catRate,
        target: "≥ 4 MiB/s under TCG",
        pass: FILE_MIB / outS >= 4,
        group: "copy",
      },
    ];
  } finally {
    spawnSync(process.execPath, [CLI, "down", "--all"], { env, stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}
