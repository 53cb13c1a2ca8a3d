// The event stream's bound: a client that stops reading is dropped once its queue is full (it gets
// a last `overflow` line, the SDK throws `events_overflow`), while a client that keeps up gets every
// event, and what the daemon holds for slow clients never exceeds the per-client bound. A real
// daemon (in this process, so events can be published at a rate no VM could produce) and real
// HTTP clients on its unix socket.

import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type HostEvent, Mvm, MvmError } from "../../src/sdk/index.js";
import { type RunningDaemon, startDaemon } from "../../src/server/daemon.js";
import { DEFAULT_QUEUE_BYTES } from "../../src/server/events.js";
import { DataPaths } from "../../src/store/paths.js";
import { TemplateStore } from "../../src/store/templates.js";
import { tempDir } from "../helpers/cli.js";

describe("GET /v1/events bounds", () => {
  const root = tempDir("mvm-events-");
  let daemon: RunningDaemon;

  before(async () => {
    const paths = new DataPaths(join(root, "data"));
    daemon = await startDaemon({
      paths,
      store: new TemplateStore(paths),
      socket: join(root, "api.sock"),
      hypervisor: "qemu",
      readyTimeoutMs: 1000,
      limits: { maxVms: 1, maxMemMib: 1 },
      maxUpload: 1,
      reaperIntervalMs: 60_000,
    });
  });

  after(async () => {
    await daemon?.close();
    await rm(root, { recursive: true, force: true });
  });

  test("a client that stops reading is dropped with an overflow line; one that keeps up gets everything", async () => {
    const mvm = new Mvm({ socket: daemon.socket });
    const hub = daemon.vms.events;
    const fast = mvm.events();
    const slow = mvm.events();
    await Promise.all([fast.opened, slow.opened]);
    assert.equal(hub.subscribers, 2);

    const got: HostEvent[] = [];
    let wake: () => void = () => {};
    const reading = (async () => {
      for await (const e of fast) {
        got.push(e);
        wake();
      }
    })();
    const padding = "x".repeat(300);
    const total = 12_000;
    let maxQueued = 0;
    let last = 0;
    for (let i = 0; i < total; i += 200) {
      for (let j = 0; j < 200; j++)
        last = hub.publish("vm.ready", { vm: `v${i + j}`, template: "t", padding }).id;
      maxQueued = Math.max(maxQueued, hub.queuedBytes());
      // The fast client catches up before the next batch; the slow one never reads.
      while (got.at(-1)?.id !== last)
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
    }
    assert.equal(got.length, total, "the client that keeps up gets every event");
    assert.equal(hub.subscribers, 1, "the slow client was dropped");
    assert.ok(maxQueued <= DEFAULT_QUEUE_BYTES + 1024, `queued ${maxQueued} bytes for slow clients`);

    // The slow client reads what reached it, then learns it was dropped.
    let before = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of slow) before++;
      })(),
      (e: unknown) => e instanceof MvmError && e.code === "events_overflow",
    );
    assert.ok(before > 0 && before < total, `the slow client read ${before} events before the overflow`);
    fast.close();
    await reading;
    // The daemon notices the closed connection and lets its subscription go.
    const deadline = Date.now() + 10_000;
    while (hub.subscribers > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(hub.subscribers, 0);
  });
});
