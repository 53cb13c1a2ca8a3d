// The main job, end to end, on the embedded defaults: scaffold an offline http template, build it with a
// snapshot, start it from the snapshot, talk to it, push it, delete it, pull it back, verify it, and start
// it again from the pulled snapshot. Each step prints its time; any failure stops with a non-zero exit.
// MVM_QUICKSTART_BIN runs the same steps with an installed `mvmctl` command instead of this checkout's
// build (the install test runs them so on the package installed from the packed tarball).
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CLI = resolve(import.meta.dirname, "..", "src", "cli", "main.js");
const BIN = process.env.MVM_QUICKSTART_BIN?.trim() || undefined;

interface Step {
  name: string;
  seconds: number;
  ok: boolean;
  detail: string;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

function mvmctl(
  args: string[],
  env: NodeJS.ProcessEnv,
  live: boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = BIN
      ? spawn(BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] })
      : spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      if (live) process.stderr.write(`      ${String(d).replace(/\n(?=.)/g, "\n      ")}`);
    });
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

async function httpGet(port: number, attempts = 20): Promise<string> {
  let last = "";
  for (let i = 0; i < attempts; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
      const body = await r.text();
      if (r.ok) return body;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no answer on 127.0.0.1:${port}: ${last}`);
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), "mvm-quickstart-"));
  const dataDir = process.env.MVM_DATA_DIR || join(work, "data");
  const env = { ...process.env, MVM_DATA_DIR: dataDir, NO_COLOR: process.env.NO_COLOR ?? "" };
  const live = !process.env.CI;
  const steps: Step[] = [];
  const name = "demo";
  const vm = "demo-1";
  const port = await freePort();
  console.log(`mvmctl quick start (data dir ${dataDir}, work dir ${work}, command ${BIN ?? CLI})`);

  const run = async (label: string, fn: () => Promise<string>): Promise<void> => {
    process.stdout.write(`==> ${label}\n`);
    const t0 = performance.now();
    try {
      const detail = await fn();
      const seconds = (performance.now() - t0) / 1000;
      steps.push({ name: label, seconds, ok: true, detail });
      console.log(`    ok (${seconds.toFixed(1)} s)${detail ? ` ${detail}` : ""}`);
    } catch (e) {
      const seconds = (performance.now() - t0) / 1000;
      steps.push({ name: label, seconds, ok: false, detail: (e as Error).message });
      console.log(`    FAILED (${seconds.toFixed(1)} s): ${(e as Error).message}`);
      throw e;
    }
  };
  const cli = async (args: string[]): Promise<string> => {
    const r = await mvmctl(args, env, live);
    if (r.code !== 0)
      throw new Error(
        `mvmctl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
      );
    return r.stdout;
  };
  const up = async (): Promise<string> => {
    const out = JSON.parse(
      await cli(["up", "--template", name, "--name", vm, "-d", "-p", `${port}:8080`, "--json"]),
    );
    if (out.mode !== "restore")
      throw new Error(`expected a restore from the snapshot, got a ${out.mode} start`);
    return `mode=${out.mode} ready in ${out.ready_ms} ms`;
  };

  try {
    await run(`template init ${name} --local --offline --preset http`, () =>
      cli(["template", "init", name, "--local", "--offline", "--preset", "http", "--dir", work]).then(
        () => "",
      ),
    );
    await run(`template create ${name}`, () =>
      cli([
        "template",
        "create",
        name,
        "--flake",
        join(work, name),
        "--mem",
        "256M",
        "--cpus",
        "1",
        "--force",
      ]).then(() => ""),
    );
    await run(`template build ${name} --snapshot`, async () => {
      await cli(["template", "build", name, "--snapshot"]);
      const info = JSON.parse(await cli(["template", "info", name, "--json"]));
      if (!info.revision?.snapshot) throw new Error("the revision has no snapshot");
      return `revision ${info.revision.revision_hash.slice(0, 12)}`;
    });
    await run(`up --template ${name} -d (restore from snapshot)`, up);
    await run(`HTTP GET 127.0.0.1:${port}`, async () => `${(await httpGet(port)).length} bytes`);
    await run(`down ${vm}`, () => cli(["down", vm]).then(() => ""));
    await run(`template push ${name} (file registry)`, () => cli(["template", "push", name]).then(() => ""));
    await run(`template delete ${name}`, () => cli(["template", "delete", name, "--force"]).then(() => ""));
    await run(`template pull ${name}`, () => cli(["template", "pull", name]).then(() => ""));
    await run(`template verify ${name}`, () => cli(["template", "verify", name]).then(() => ""));
    await run(`up --template ${name} -d (restore from the pulled snapshot)`, up);
    await run(`HTTP GET 127.0.0.1:${port}`, async () => `${(await httpGet(port)).length} bytes`);
    await run(`down ${vm}`, () => cli(["down", vm]).then(() => ""));
  } catch {
    await mvmctl(["down", vm], env, false).catch(() => undefined);
  }

  const total = steps.reduce((a, s) => a + s.seconds, 0);
  const failed = steps.filter((s) => !s.ok);
  console.log("\nSummary");
  for (const s of steps)
    console.log(`  ${s.ok ? "ok  " : "FAIL"}  ${s.seconds.toFixed(1).padStart(6)} s  ${s.name}`);
  console.log(
    `  ${failed.length === 0 ? "all steps passed" : `${failed.length} step(s) failed`} in ${total.toFixed(1)} s`,
  );
  return failed.length === 0 && steps.length === 13 ? 0 : 1;
}

process.exitCode = await main();
