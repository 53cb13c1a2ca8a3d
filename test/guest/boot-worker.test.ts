import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildExampleImage } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

const work = mkdtempSync(join(tmpdir(), "mvm-boot-worker-"));
let vm: TestVm | undefined;

after(async () => {
  await vm?.stop();
  await rm(work, { recursive: true, force: true });
});

test("worker example: the heartbeat check is reported healthy over the channel", async () => {
  const image = await buildExampleImage("worker");
  vm = await bootQemu({ image, workDir: work });
  const ch = await vm.channel(180_000);
  try {
    const deadline = Date.now() + 60_000;
    let report = await ch.health();
    while (!report.ready && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      report = await ch.health();
    }
    assert.equal(report.ready, true, JSON.stringify(report));
    const worker = report.checks.find((c) => c.name === "worker");
    assert.equal(worker?.status, "healthy");
    const svc = (await ch.services()).find((s) => s.name === "worker");
    assert.equal(svc?.running, true);
    assert.match(vm.console(), /\[worker\] tick/);
  } finally {
    ch.close();
  }
});
