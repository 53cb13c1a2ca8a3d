import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { GuestChannel } from "../../src/guest/channel.js";
import { QmpClient } from "../../src/hypervisor/qemu/qmp.js";
import { buildExampleImage } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

// The guest channel survives a QEMU snapshot/restore: the agent keeps its virtio-serial port open,
// the host connects to the restored QEMU's new chardev socket and the same agent answers.

const work = mkdtempSync(join(tmpdir(), "mvm-boot-restore-"));
const vms: TestVm[] = [];

after(async () => {
  for (const vm of vms) await vm.stop();
  await rm(work, { recursive: true, force: true });
});

async function waitUntil(what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("after a snapshot restore the host reconnects, the agent answers, post-restore and health work", async () => {
  const image = await buildExampleImage("http");
  const overlay = join(work, "root.qcow2");
  const mk = spawnSync(
    "qemu-img",
    ["create", "-q", "-f", "qcow2", "-b", image.rootfs, "-F", "raw", overlay],
    { encoding: "utf8" },
  );
  assert.equal(mk.status, 0, mk.stderr);

  const first = await bootQemu({
    image,
    workDir: join(work, "a"),
    rootOverlay: overlay,
    qmp: true,
    forward: [8080],
  });
  vms.push(first);
  const ch1 = await first.channel(180_000);
  const deadline = Date.now() + 60_000;
  while (!(await ch1.health()).ready) {
    assert.ok(Date.now() < deadline, "http example never became ready");
    await new Promise((r) => setTimeout(r, 500));
  }
  const uptimeBefore = (await ch1.ping()).uptime_ms;

  const qmp1 = await QmpClient.connect(join(work, "a", "qmp.sock"));
  const state = join(work, "vmstate.bin");
  await qmp1.execute("stop");
  await qmp1.execute("migrate", { uri: `exec:cat > ${state}` });
  await waitUntil(
    "migration",
    async () => {
      const m = await qmp1.execute<{ status?: string }>("query-migrate");
      assert.notEqual(m.status, "failed");
      return m.status === "completed";
    },
    60_000,
  );
  await first.stop();
  await assert.rejects(ch1.ping({ timeoutMs: 2000 }), /closed|did not answer/);
  ch1.close();

  const second = await bootQemu({
    image,
    workDir: join(work, "b"),
    rootOverlay: overlay,
    qmp: true,
    forward: [8080],
    incoming: `exec:cat ${state}`,
  });
  vms.push(second);
  const qmp2 = await QmpClient.connect(join(work, "b", "qmp.sock"), 10_000);
  await waitUntil(
    "incoming migration",
    async () => (await qmp2.execute<{ status: string }>("query-status")).status === "paused",
    60_000,
  );
  const resumed = Date.now();
  await qmp2.execute("cont");
  const ch2 = await GuestChannel.connectUnix(join(work, "b", "agent.sock"), { connectRetryMs: 5000 });
  try {
    const pong = await ch2.waitForAgent(30_000, 500);
    const answeredMs = Date.now() - resumed;
    assert.ok(pong.uptime_ms >= uptimeBefore, "the same guest carried on");
    const pr = await ch2.postRestore({ identity: { hostnameSuffix: "r1" } });
    assert.equal(pr.hostname, "http-r1");
    const h = await ch2.health({ fresh: true, timeoutMs: 30_000 });
    const until = Date.now() + 30_000;
    let ready = h.ready;
    while (!ready && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 300));
      ready = (await ch2.health()).ready;
    }
    assert.ok(ready, "healthy again after post-restore restarted the services");
    const res = await fetch(`http://127.0.0.1:${second.ports.get(8080)}/`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 200);
    process.stderr.write(`# agent answered ${answeredMs} ms after cont\n`);
  } finally {
    ch2.close();
  }
});
