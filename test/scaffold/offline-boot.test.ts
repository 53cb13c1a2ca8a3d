import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { GuestChannel, HealthReport } from "../../src/vm/guest-channel.js";
import { runCli } from "../helpers/cli.js";
import { buildFlakeImage, testCacheRoot } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

// What a user gets from `template init --local --offline`, for real: the scaffold builds with nix
// (offline, our library and the kit as its only inputs), boots under QEMU (TCG), and both generated
// services pass their generated health checks. One prompt-rendered flake (http + worker) covers both
// offline services in a single boot.

const work = mkdtempSync(join(tmpdir(), "mvm-scaffold-boot-"));
let vm: TestVm | undefined;
let ch: GuestChannel | undefined;

after(async () => {
  ch?.close();
  await vm?.stop();
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

test("an offline prompt scaffold (web + worker) builds, boots, serves its page and passes both checks", async () => {
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
      "a web server with a cron worker",
      "--json",
    ],
    {
      dataDir: join(testCacheRoot(), "data"),
      env: { MVM_TEMPLATE_PROVIDER: "heuristic" },
      timeoutMs: 300_000,
    },
  );
  assert.equal(init.code, 0, init.stderr);
  const out = JSON.parse(init.stdout);
  assert.deepEqual(out.plan.inferred_features, ["http", "worker"]);
  const flakeDir = join(work, "combo");
  const flake = readFileSync(join(flakeDir, "flake.nix"), "utf8");
  assert.match(flake, /mvm-kit = \{ url = "path:\/.*\/kit\/[0-9a-f]+"; flake = false; \};/);
  assert.doesNotMatch(flake, /nixpkgs|github:/);

  const image = await buildFlakeImage(flakeDir);
  vm = await bootQemu({ image, workDir: join(work, "vm"), forward: [8080] });
  ch = await vm.channel(180_000);
  const report = await waitHealthy(ch, 90_000);
  assert.deepEqual(report.checks.map((c) => [c.name, c.healthy]).sort(), [
    ["web", true],
    ["worker", true],
  ]);
  const res = await fetch(`http://127.0.0.1:${vm.ports.get(8080)}/`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "combo is running\n");
  assert.match(vm.console(), /\[worker\] tick /, "the worker's echo with quotes and $(date) ran");
});
