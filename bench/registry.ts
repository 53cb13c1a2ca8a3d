// Registry benchmarks, each measured against a baseline in the same run:
//  - peak RSS of push and pull of a 2 GiB artifact (S3, the transport with the largest buffers)
//    against `mvmctl --version`; target at most 150 MiB;
//  - push to file:// against `cp` of the same dense file (and `cp` + `sync`, the durable baseline:
//    target at least 0.8x of that);
//  - push to s3rver against Debian's `aws s3 cp` of the same file to the same server; target at least 1.2x;
//  - a second push of an unchanged revision: 0 artifact bytes;
//  - a 2 GiB sparse rootfs holding 50 MiB of data: bytes on the wire (counted by a TCP proxy) for
//    push and pull; target at most 100 MiB each.
// Run: npm run build && node dist/bench/registry.js
import { spawn, spawnSync } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../test/helpers/cli.js";
import { makeRevision } from "../test/helpers/registry/fixtures.js";
import { startFaultyProxy } from "../test/helpers/registry/proxy.js";
import { type S3Server, startS3 } from "../test/helpers/registry/servers.js";
import { denseRevision } from "./dense-revision.js";
import { type BenchResult, CLI, printResult } from "./lib.js";
import { AWS } from "./prerequisites.js";

const MiB = 1 << 20;

interface Run {
  seconds: number;
  peakRssMiB: number;
  stdout: string;
}

/** Runs a command, sampling its peak RSS (VmHWM) from /proc until it exits. */
async function measured(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const spawnFailed = new Promise<never>((_, reject) =>
    child.on("error", (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`))),
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  let peak = 0;
  const sample = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // exited between samples
    }
  };
  const timer = setInterval(sample, 20);
  const code = await Promise.race([
    new Promise<number | null>((res) => child.on("close", res)),
    spawnFailed,
  ]).finally(() => clearInterval(timer));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${code}): ${stderr.slice(-2000)}`);
  return { seconds, peakRssMiB: peak, stdout };
}

function s3Env(s3: S3Server, endpoint = s3.endpoint): NodeJS.ProcessEnv {
  return { ...process.env, ...s3.env, MVM_TEMPLATE_REGISTRY_ENDPOINT: endpoint, NO_COLOR: "1" };
}

/**
 * `aws`: the AWS CLI used for the S3 throughput baseline; without it the S3 throughput figures (which
 * are judged against that baseline) are left out and everything else is measured.
 */
export async function benchRegistry(aws: string | undefined = AWS.find(process.env)): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const s3 = await startS3();
  try {
    const version = await measured(process.execPath, [CLI, "--version"], process.env);

    // A dense revision: every byte of its 1 GiB rootfs travels, so this measures the transport itself.
    const denseHome = tempDir("mvm-bench-dense-");
    const denseBytes = 1024 * MiB;
    const dense = await denseRevision(denseHome, "dense", denseBytes);
    const { writeChecksums } = await import("../src/store/checksums.js");
    const { DigestCache } = await import("../src/store/digest-cache.js");
    const { DataPaths } = await import("../src/store/paths.js");
    // As a build does: the digests it computed are remembered, so the push does not hash the file again.
    await writeChecksums(dense.dir, "dense", dense.rev, DigestCache.of(new DataPaths(denseHome)));
    const denseEnv = { ...process.env, MVM_DATA_DIR: denseHome, NO_COLOR: "1" };

    // file:// push vs cp of the same file (both read it from the page cache; the push also hashes and fsyncs).
    const cpDir = tempDir("mvm-bench-cp-");
    spawnSync("sync");
    const cp = await measured("cp", [join(dense.dir, "rootfs.ext4"), join(cpDir, "copy")], process.env);
    const t0 = process.hrtime.bigint();
    spawnSync("sync");
    const cpSync = cp.seconds + Number(process.hrtime.bigint() - t0) / 1e9;
    const filePush = await measured(
      process.execPath,
      [CLI, "template", "push", "dense", "--registry", `file://${tempDir("mvm-bench-freg-")}`, "--json"],
      denseEnv,
    );
    await fs.rm(cpDir, { recursive: true, force: true });
    const fileTp = denseBytes / MiB / filePush.seconds;
    const cpTp = denseBytes / MiB / cp.seconds;
    const cpSyncTp = denseBytes / MiB / cpSync;
    results.push({
      group: "transfer",
      name: "push 1 GiB dense rootfs to file://",
      value: fileTp,
      unit: "MiB/s",
      baseline: { name: "cp of the same file", value: cpTp },
      ratio: fileTp / cpTp,
      target: ">= 0.7x cp",
      pass: fileTp / cpTp >= 0.7,
      notes:
        "push trusts the digest the build remembered (the file is unchanged), hashes the stored (sparse1) stream, makes the copy durable (fsync before rename) and includes Node start-up; cp does none of these",
    });
    results.push({
      group: "transfer",
      name: "push 1 GiB dense rootfs to file:// (durable baseline)",
      value: fileTp,
      unit: "MiB/s",
      baseline: { name: "cp of the same file, then sync", value: cpSyncTp },
      ratio: fileTp / cpSyncTp,
      target: ">= 0.8x cp + sync",
      pass: fileTp / cpSyncTp >= 0.8,
    });

    // S3: mvmctl push vs aws s3 cp of the same dense file to the same s3rver.
    const awsEnv = {
      ...process.env,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_PAGER: "",
    };
    const awsRun = aws
      ? await measured(
          aws,
          [
            "--endpoint-url",
            s3.endpoint,
            "s3",
            "cp",
            "--only-show-errors",
            join(dense.dir, "rootfs.ext4"),
            `s3://${s3.bucket}/baseline/rootfs.ext4`,
          ],
          awsEnv,
        )
      : undefined;
    const s3Push = await measured(
      process.execPath,
      [CLI, "template", "push", "dense", "--registry", s3.url("bench"), "--json"],
      { ...s3Env(s3), MVM_DATA_DIR: denseHome },
    );
    const s3Tp = denseBytes / MiB / s3Push.seconds;
    const awsTp = awsRun ? denseBytes / MiB / awsRun.seconds : undefined;
    if (awsTp !== undefined)
      results.push({
        group: "transfer",
        name: "push 1 GiB dense rootfs to s3rver",
        value: s3Tp,
        unit: "MiB/s",
        baseline: { name: "aws s3 cp (Debian awscli) to the same server", value: awsTp },
        ratio: s3Tp / awsTp,
        target: ">= 1.2x aws s3 cp",
        pass: s3Tp / awsTp >= 1.2,
      });
    results.push({
      group: "memory",
      name: "peak RSS pushing 1 GiB dense rootfs to s3rver",
      value: s3Push.peakRssMiB,
      unit: "MiB",
      baseline: { name: "mvmctl --version", value: version.peakRssMiB },
      ratio: s3Push.peakRssMiB / version.peakRssMiB,
      target: "<= 150 MiB",
      pass: s3Push.peakRssMiB <= 150,
    });

    // The realistic artifact: a 2 GiB sparse rootfs holding 50 MiB of data, through a byte-counting proxy.
    const home = tempDir("mvm-bench-sparse-");
    await makeRevision(home, "sparse", { rootfsBytes: 2048 * MiB, rootfsDataBytes: 50 * MiB });
    const env = { ...process.env, MVM_DATA_DIR: home, NO_COLOR: "1" };
    const proxy = await startFaultyProxy(Number(new URL(s3.endpoint).port), 0, 0);
    const viaProxy = s3Env(s3, `http://127.0.0.1:${proxy.port}`);
    const wireBefore = proxy.bytes();
    const push = await measured(
      process.execPath,
      [CLI, "template", "push", "sparse", "--registry", s3.url("bench"), "--json"],
      { ...env, ...viaProxy },
    );
    const pushWire = (proxy.bytes() - wireBefore) / MiB;
    const sparseTp = 2048 / push.seconds;
    if (awsTp !== undefined)
      results.push({
        group: "transfer",
        name: "push 2 GiB sparse rootfs (50 MiB data) to s3rver",
        value: sparseTp,
        unit: "MiB/s (file size / wall)",
        baseline: { name: "aws s3 cp of a dense 1 GiB file, same server", value: awsTp },
        ratio: sparseTp / awsTp,
        target: ">= 1x aws s3 cp",
        pass: sparseTp / awsTp >= 1,
      });
    results.push({
      name: "bytes on the wire pushing 2 GiB sparse rootfs (50 MiB data)",
      value: pushWire,
      unit: "MiB",
      baseline: { name: "file size", value: 2048 },
      ratio: pushWire / 2048,
      target: "<= 100 MiB",
      pass: pushWire <= 100,
    });
    results.push({
      group: "memory",
      name: "peak RSS pushing 2 GiB sparse rootfs to s3rver",
      value: push.peakRssMiB,
      unit: "MiB",
      baseline: { name: "mvmctl --version", value: version.peakRssMiB },
      ratio: push.peakRssMiB / version.peakRssMiB,
      target: "<= 150 MiB",
      pass: push.peakRssMiB <= 150,
    });

    const again = await measured(
      process.execPath,
      [CLI, "template", "push", "sparse", "--registry", s3.url("bench"), "--json"],
      { ...env, ...viaProxy },
    );
    const second = (JSON.parse(again.stdout) as { uploaded_bytes: number }).uploaded_bytes;
    results.push({
      name: "artifact bytes uploaded by a second push of an unchanged revision",
      value: second,
      unit: "bytes",
      baseline: {
        name: "first push",
        value: (JSON.parse(push.stdout) as { uploaded_bytes: number }).uploaded_bytes,
      },
      ratio: 0,
      target: "0 bytes",
      pass: second === 0,
    });

    const pullHome = tempDir("mvm-bench-pull-");
    const wirePull0 = proxy.bytes();
    const pull = await measured(
      process.execPath,
      [CLI, "template", "pull", "sparse", "--registry", s3.url("bench"), "--json"],
      { ...viaProxy, MVM_DATA_DIR: pullHome },
    );
    const pullWire = (proxy.bytes() - wirePull0) / MiB;
    results.push({
      name: "bytes on the wire pulling 2 GiB sparse rootfs (50 MiB data)",
      value: pullWire,
      unit: "MiB",
      baseline: { name: "file size", value: 2048 },
      ratio: pullWire / 2048,
      target: "<= 100 MiB",
      pass: pullWire <= 100,
    });
    results.push({
      group: "memory",
      name: "peak RSS pulling 2 GiB sparse rootfs from s3rver",
      value: pull.peakRssMiB,
      unit: "MiB",
      baseline: { name: "mvmctl --version", value: version.peakRssMiB },
      ratio: pull.peakRssMiB / version.peakRssMiB,
      target: "<= 150 MiB",
      pass: pull.peakRssMiB <= 150,
    });
    await proxy.close();

    // Pull of the dense 1 GiB revision: the RSS case where every byte is decoded and written.
    const densePull = await measured(
      process.execPath,
      [CLI, "template", "pull", "dense", "--registry", s3.url("bench"), "--json"],
      { ...s3Env(s3), MVM_DATA_DIR: tempDir("mvm-bench-dpull-") },
    );
    results.push({
      group: "memory",
      name: "peak RSS pulling 1 GiB dense rootfs from s3rver",
      value: densePull.peakRssMiB,
      unit: "MiB",
      baseline: { name: "mvmctl --version", value: version.peakRssMiB },
      ratio: densePull.peakRssMiB / version.peakRssMiB,
      target: "<= 150 MiB",
      pass: densePull.peakRssMiB <= 150,
      notes: `pull throughput ${(denseBytes / MiB / densePull.seconds).toFixed(0)} MiB/s`,
    });
    for (const d of [denseHome, home, pullHome]) await fs.rm(d, { recursive: true, force: true });
  } finally {
    await s3.stop();
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await benchRegistry();
  for (const r of results) printResult(r);
}
