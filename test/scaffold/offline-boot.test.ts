import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { GuestChannel, HealthReport } from "../../src/guest/channel.js";
import { runCli } from "../helpers/cli.js";
import { buildFlakeImage, testCacheRoot } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";
import { type ModelServer, responsesReply, startModelServer } from "../helpers/model-server.js";

// What a user gets from `template init --local --offline --prompt`, for real: a (local) model plans
// web + worker on a privileged port with a health path in a subdirectory; the scaffold builds with nix
// (offline, our library and the kit as its only inputs), boots under QEMU (TCG), and both generated
// services pass their generated health checks. One boot covers both offline services.

const work = mkdtempSync(join(tmpdir(), "mvm-scaffold-boot-"));
let vm: TestVm | undefined;
let ch: GuestChannel | undefined;
let model: ModelServer | undefined;

after(async () => {
  ch?.close();
  await vm?.stop();
  await model?.close();
  await rm(work, { recursive: true, force: true });
});

async function waitHealthy(c: GuestChannel, timeoutMs: number): Promise<HealthReport> {
  const deadline = Date.now() + timeoutMs;
  let last: HealthReport | undefined;
  while (Date.now() < deadline) {
    last = await c.health();
    if (last.ready && last.checks.length > 0) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not healthy: ${JSON.stringify(last)}`);
}

test("an offline LLM-planned scaffold (web on port 80 + worker) builds, boots, serves and passes both checks", async () => {
  model = await startModelServer(() =>
    responsesReply({
      schema_version: 1,
      summary: "A status page on port 80 and a job every 3 seconds.",
      primary_preset: "worker",
      features: ["worker", "http"],
      http_port: 80,
      health_path: "/status/ready",
      worker_interval_secs: 3,
      python_entrypoint: null,
      notes: [],
    }),
  );
  // The CLI uses the test cache's data dir so it reuses the kit the other boot tests built.
  const init = await runCli(
    [
      "template",
      "init",
      "combo",
      "--local",
      "--offline",
      "--dir",
      work,
      "--prompt",
      "status page and a job",
      "--json",
    ],
    {
      dataDir: join(testCacheRoot(), "data"),
      env: {
        MVM_TEMPLATE_PROVIDER: "local",
        MVM_TEMPLATE_LOCAL_BASE_URL: model.url,
        OPENAI_API_KEY: undefined,
      },
      timeoutMs: 300_000,
    },
  );
  assert.equal(init.code, 0, init.stderr);
  const out = JSON.parse(init.stdout);
  assert.equal(out.plan.generation_mode, "llm");
  assert.deepEqual(out.plan.inferred_features, ["http", "worker"]);
  const flakeDir = join(work, "combo");
  const flake = readFileSync(join(flakeDir, "flake.nix"), "utf8");
  assert.match(flake, /mvm-kit = \{ url = "github:mvmctl\/mvmctl\/v[0-9.]+"; flake = false; \};/);
  // No nixpkgs input and no host path (a comment may say that there is no nixpkgs).
  assert.doesNotMatch(flake, /nixpkgs(\.url)?\s*=|path:/);

  const image = await buildFlakeImage(flakeDir);
  vm = await bootQemu({ image, workDir: join(work, "vm"), forward: [80] });
  ch = await vm.channel(180_000);
  const report = await waitHealthy(ch, 90_000);
  assert.deepEqual(report.checks.map((c) => [c.name, c.healthy]).sort(), [
    ["web", true],
    ["worker", true],
  ]);
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${vm?.ports.get(80)}${path}`, {
      signal: AbortSignal.timeout(5000),
    });
    return [res.status, await res.text()];
  };
  assert.deepEqual(await get("/"), [200, "combo is running\n"]);
  assert.deepEqual(await get("/status/ready"), [200, "ok\n"]);
  assert.match(vm.console(), /\[worker\] tick /, "the worker's echo with quotes and $(date) ran");
});
