import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { runCli, tempDir } from "../helpers/cli.js";

// 8 concurrent pulls and 4 concurrent builds of one template: each finishes or fails with a clear
// "locked" error, and the final state verifies.

function finishedOrLocked(r: { code: number | null; stderr: string }, what: string): "ok" | "locked" {
  if (r.code === 0) return "ok";
  assert.equal(r.code, 1, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^error: template app is locked by pid \d+/m, `${what}: ${r.stderr}`);
  return "locked";
}

test("8 concurrent pulls and 4 concurrent builds of one template end complete or cleanly locked", {
  timeout: 900_000,
}, async () => {
  const root = tempDir("mvm-concurrency-");
  const data = join(root, "data");
  const flake = join(root, "flake");
  const registry = { MVM_TEMPLATE_REGISTRY: `file://${join(root, "registry")}` };
  writeFakeFlake(flake, {
    nonce: `${process.pid}-${Date.now()}`,
    packages: { default: { initrd: true, rootfsKiB: 64 * 1024 } },
  });
  const ok = async (args: string[], dataDir: string, env: Record<string, string> = {}) => {
    const r = await runCli(args, { dataDir, env, timeoutMs: 600_000 });
    assert.equal(r.code, 0, `mvmctl ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  await ok(["template", "create", "app", "--flake", flake, "--mem", "256", "--cpus", "1"], data);
  await ok(["template", "build", "app"], data);
  await ok(["template", "push", "app"], data, registry);

  // 8 pulls onto one empty host at once. A short lock wait makes "locked" a real possible outcome.
  const host = join(root, "host");
  const pulls = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      runCli(["template", "pull", "app"], {
        dataDir: host,
        env: { ...registry, MVM_LOCK_TIMEOUT_MS: i % 2 ? "100" : "60000" },
        timeoutMs: 600_000,
      }),
    ),
  );
  const pullOutcomes = pulls.map((r, i) => finishedOrLocked(r, `pull ${i}`));
  assert.ok(pullOutcomes.includes("ok"), "at least one pull finished");
  await ok(["template", "verify", "app"], host);
  const listed = JSON.parse((await ok(["template", "list", "--json"], host)).stdout);
  assert.deepEqual(listed.vm, ["app"]);
  assert.deepEqual(listed.broken, []);

  // 4 forced builds of one template at once.
  const builds = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      runCli(["template", "build", "app", "--force"], {
        dataDir: data,
        env: { MVM_LOCK_TIMEOUT_MS: i % 2 ? "100" : "120000" },
        timeoutMs: 600_000,
      }),
    ),
  );
  const buildOutcomes = builds.map((r, i) => finishedOrLocked(r, `build ${i}`));
  assert.ok(buildOutcomes.includes("ok"), "at least one build finished");
  await ok(["template", "verify", "app"], data);
  console.log(`concurrency: pulls ${JSON.stringify(pullOutcomes)}, builds ${JSON.stringify(buildOutcomes)}`);
});
