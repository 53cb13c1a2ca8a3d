import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { freePort } from "../helpers/qemu-boot.js";

// The whole point of a registry: a template built and snapshotted on one host is pulled onto an
// empty data dir and `up --template` restores the pulled snapshot there (QEMU, TCG), serving at once.

const root = tempDir("mvm-reg-snap-");
const pids: number[] = [];

after(async () => {
  for (const pid of pids)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  await rm(root, { recursive: true, force: true });
});

test("build --snapshot, push, pull onto an empty data dir, up --template restores the pulled snapshot", async () => {
  const kit = await ensureTestKit();
  const builder = join(root, "builder");
  const host = join(root, "host");
  const proj = join(root, "proj");
  mkdirSync(builder, { recursive: true });
  mkdirSync(proj);
  symlinkSync(dirname(kit.dir), join(builder, "kit"));
  const registry = { MVM_TEMPLATE_REGISTRY: `file://${join(root, "registry")}` };
  const b = cliFor(builder, registry);
  const h = cliFor(host, registry);
  const ok = async (r: Promise<{ code: number | null; stdout: string; stderr: string }>) => {
    const out = await r;
    assert.equal(out.code, 0, out.stderr);
    return out;
  };
  await ok(b(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", proj]));
  await ok(b(["template", "create", "web", "--flake", join(proj, "web"), "--mem", "256", "--cpus", "1"]));
  await ok(b(["template", "build", "web", "--snapshot"]));
  const push = JSON.parse((await ok(b(["template", "push", "web", "--json"]))).stdout) as {
    snapshot: boolean;
    files: { name: string }[];
  };
  assert.equal(push.snapshot, true);
  assert.ok(push.files.some((f) => f.name === "snapshot/mem.bin"));

  await ok(h(["template", "pull", "web"]));
  await ok(h(["template", "verify", "web"]));
  const port = await freePort();
  const up = JSON.parse(
    (await ok(h(["up", "--template", "web", "--name", "pulled", "-d", "-p", `${port}:8080`, "--json"])))
      .stdout,
  ) as { mode: string; pid: number };
  pids.push(up.pid);
  assert.equal(up.mode, "restore");
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(20_000) });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  await ok(h(["down", "pulled"]));
});
