import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { CLI, runCli, tempDir } from "../helpers/cli.js";

// At least 50 SIGKILLs at random moments across `build`, `build --snapshot`, `push` and `pull`. Afterwards
// every template loads, `verify` passes on every current revision, no temp directory is visible as a
// template or revision, every registry `current` names a complete revision, and no VM process is left.

const SEED = Number(process.env.MVM_CRASH_SEED ?? Date.now() % 100000);
let state = SEED;
function rand(): number {
  // xorshift32: reproducible with MVM_CRASH_SEED.
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return ((state >>> 0) % 1_000_000) / 1_000_000;
}

interface Killed {
  what: string;
  atMs: number;
  exited: boolean;
}

/** Starts the CLI and SIGKILLs it after `atMs` unless it finished first. */
function killAt(args: string[], env: Record<string, string>, atMs: number, what: string): Promise<Killed> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: "ignore",
    });
    let exited = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), atMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      exited = signal !== "SIGKILL";
      if (exited && code !== 0 && !what.startsWith("build --snapshot"))
        resolve({ what: `${what} (failed with ${code} before the kill)`, atMs, exited });
      else resolve({ what, atMs, exited });
    });
  });
}

/** Repeats a command, killing it at random moments within `windowMs`, until `n` runs were killed mid-way. */
async function killLoop(
  n: number,
  args: (i: number) => string[],
  env: (i: number) => Record<string, string>,
  minMs: number,
  windowMs: number,
  what: string,
  out: Killed[],
  before?: (i: number) => Promise<void>,
): Promise<void> {
  let killedHere = 0;
  for (let i = 0; killedHere < n && i < n * 10; i++) {
    await before?.(i);
    // Within 85% of the measured run time, so that most runs are still going when the signal comes.
    const k = await killAt(args(i), env(i), minMs + rand() * windowMs * 0.85, what);
    out.push(k);
    if (!k.exited) killedHere++;
  }
}

async function ok(args: string[], dataDir: string, env: Record<string, string> = {}) {
  const r = await runCli(args, { dataDir, env, timeoutMs: 600_000 });
  assert.equal(r.code, 0, `mvmctl ${args.join(" ")}: ${r.stderr}`);
  return r;
}

async function timed(args: string[], dataDir: string, env: Record<string, string> = {}): Promise<number> {
  const t0 = Date.now();
  await ok(args, dataDir, env);
  return Date.now() - t0;
}

/** Every template loads, every revision directory is complete and verifies, nothing temporary shows. */
async function assertStoreConsistent(dataDir: string, names: string[]): Promise<void> {
  const list = JSON.parse((await ok(["template", "list", "--json"], dataDir)).stdout);
  assert.deepEqual(list.broken, [], `broken templates in ${dataDir}`);
  for (const n of names) assert.ok(list.vm.includes(n), `${n} is listed`);
  for (const n of names) {
    await ok(["template", "verify", n], dataDir);
    const revs = join(dataDir, "templates", n, "artifacts", "revisions");
    for (const e of existsSync(revs) ? readdirSync(revs) : []) {
      if (e.startsWith(".")) continue; // hidden staging names never count as revisions
      await ok(["template", "verify", n, "--revision", e], dataDir);
    }
  }
  for (const e of readdirSync(join(dataDir, "templates")))
    assert.ok(e.startsWith(".") || names.includes(e), `unexpected entry ${e} in templates/`);
}

/** A registry whose `current` exists must serve a complete revision: pull it onto an empty host. */
async function assertRegistryConsistent(registry: string, name: string): Promise<boolean> {
  const current = join(registry, "templates", name, "current");
  if (!existsSync(current)) return false;
  const empty = tempDir("mvm-crash-check-");
  const env = { MVM_TEMPLATE_REGISTRY: `file://${registry}` };
  await ok(["template", "pull", name], empty, env);
  await ok(["template", "verify", name], empty);
  const rev = readFileSync(current, "utf8").trim();
  const info = JSON.parse((await ok(["template", "info", name, "--json"], empty)).stdout);
  assert.equal(info.revision.revision_hash, rev);
  return true;
}

function vmProcessesUsing(dir: string): string[] {
  const r = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.includes(dir) && /qemu|firecracker|keeper/.test(l));
}

test("50+ SIGKILLs across build, build --snapshot, push and pull leave every template, revision and registry consistent", {
  timeout: 1_800_000,
}, async () => {
  console.log(`crash test seed ${SEED} (set MVM_CRASH_SEED to repeat)`);
  const root = tempDir("mvm-crash-");
  const data = join(root, "data");
  const flake = join(root, "flake");
  const killed: Killed[] = [];
  const writeFlake = (salt: string) =>
    writeFakeFlake(flake, {
      nonce: `${process.pid}-${SEED}`,
      packages: { default: { initrd: true, rootfsKiB: 96 * 1024, salt } },
    });

  // build: 16 kills of `build --force` at random moments of a measured build.
  writeFlake("a");
  await ok(["template", "create", "app", "--flake", flake, "--mem", "256", "--cpus", "1"], data);
  await ok(["template", "build", "app"], data);
  const tBuild = await timed(["template", "build", "app", "--force"], data);
  await killLoop(
    16,
    () => ["template", "build", "app", "--force"],
    () => ({ MVM_DATA_DIR: data }),
    20,
    tBuild,
    "build --force",
    killed,
  );
  await assertStoreConsistent(data, ["app"]);

  // push: 14 kills, each into a fresh registry (so every push moves real bytes), plus the main one.
  const mainReg = join(root, "registry-main");
  const regEnv = (r: string) => ({ MVM_DATA_DIR: data, MVM_TEMPLATE_REGISTRY: `file://${r}` });
  const tPush = await timed(["template", "push", "app"], data, {
    MVM_TEMPLATE_REGISTRY: `file://${mainReg}`,
  });
  const pushRegs: string[] = [];
  await killLoop(
    14,
    () => ["template", "push", "app"],
    (i) => {
      const reg = join(root, `registry-${i}`);
      pushRegs.push(reg);
      return regEnv(reg);
    },
    10,
    tPush,
    "push",
    killed,
  );

  // pull: a second host holds revision A; revision B is pushed; 14 pulls of B are killed.
  const host2 = join(root, "host2");
  await ok(["template", "pull", "app"], host2, { MVM_TEMPLATE_REGISTRY: `file://${mainReg}` });
  writeFlake("b");
  await ok(["template", "build", "app"], data);
  await ok(["template", "push", "app"], data, { MVM_TEMPLATE_REGISTRY: `file://${mainReg}` });
  const probeHost = join(root, "probe");
  const tPull = await timed(["template", "pull", "app"], probeHost, {
    MVM_TEMPLATE_REGISTRY: `file://${mainReg}`,
  });
  await killLoop(
    14,
    () => ["template", "pull", "app"],
    () => ({ MVM_DATA_DIR: host2, MVM_TEMPLATE_REGISTRY: `file://${mainReg}` }),
    10,
    tPull,
    "pull",
    killed,
  );

  // build --snapshot: 8 kills of a real offline template while it builds, boots, waits and saves.
  const work = join(root, "work");
  await ok(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", work], data);
  await ok(["template", "create", "web", "--flake", join(work, "web"), "--mem", "256", "--cpus", "1"], data);
  await ok(["template", "build", "web"], data);
  const tSnap = await timed(["template", "build", "web", "--snapshot"], data);
  // Each run must really boot and save: a memory size the current snapshot was not taken with makes the
  // snapshot stale, so `build --snapshot` boots again instead of answering "up to date".
  await killLoop(
    8,
    () => ["template", "build", "web", "--snapshot", "--force"],
    () => ({ MVM_DATA_DIR: data }),
    200,
    tSnap,
    "build --snapshot",
    killed,
    async (i) => {
      await ok(["template", "edit", "web", "--mem", String(256 + 32 * ((i % 4) + 1))], data);
    },
  );

  const kills = killed.filter((k) => !k.exited).length;
  console.log(
    `crash test: ${killed.length} runs, ${kills} killed by SIGKILL mid-way (build ${tBuild} ms, push ${tPush} ms, pull ${tPull} ms, snapshot ${tSnap} ms)`,
  );
  const premature = killed.filter((k) => k.what.includes("failed with"));
  assert.deepEqual(premature, [], "a command failed on its own before it was killed");
  assert.ok(kills >= 50, `only ${kills} runs were killed mid-way`);

  // Give orphaned children (nix, QEMU keepers) a moment to notice, then check everything.
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(vmProcessesUsing(root), [], "a VM process outlived a killed mvmctl");
  await assertStoreConsistent(data, ["app", "web"]);
  await assertStoreConsistent(host2, ["app"]);
  assert.ok(await assertRegistryConsistent(mainReg, "app"));
  let withCurrent = 0;
  for (const reg of pushRegs) if (await assertRegistryConsistent(reg, "app")) withCurrent++;
  console.log(
    `crash test: ${withCurrent} of ${pushRegs.length} interrupted pushes had completed their current pointer`,
  );
  // The snapshot either completed on a run that was not killed or is absent; info never claims a broken one.
  const web = JSON.parse((await ok(["template", "info", "web", "--json"], data)).stdout);
  if (web.revision.snapshot) await ok(["template", "verify", "web"], data);
});
