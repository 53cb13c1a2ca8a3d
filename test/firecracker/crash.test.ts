// A crash of mvmctl in the middle of a start leaves nothing `mvmctl down` cannot clean: the VM
// directory names the Firecracker process (and TAP) from the moment it is spawned.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import type { VmConfig } from "../../src/vm/backend.js";
import { tapExists } from "../../src/vm/firecracker-tap.js";
import { FAKE_SCRIPT, fixture, isRunning, processesMentioning } from "./helpers.js";

const fx = fixture();
after(() => rmSync(fx.root, { recursive: true, force: true }));
const canTap = process.getuid?.() === 0 && existsSync("/dev/net/tun");

test("mvmctl killed while Firecracker hangs on InstanceStart: attach + stop removes process and TAP", async () => {
  const network = canTap ? "tap" : "none";
  const cfg: VmConfig = {
    name: "crash1",
    dir: join(fx.root, "vms", "crash1"),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    ports: [],
  };
  const child = spawn(
    process.execPath,
    [
      resolve(import.meta.dirname, "boot-in-child.js"),
      JSON.stringify({ cfg, network, dataDir: fx.paths.root }),
    ],
    {
      env: {
        ...process.env,
        MVM_FIRECRACKER_BIN: fx.bin,
        FAKE_FC_NODE: process.execPath,
        FAKE_FC_SCRIPT: FAKE_SCRIPT,
        FAKE_FC_LOG: fx.log,
        FAKE_FC_STALL_ON: "/actions",
      },
      stdio: "ignore",
    },
  );
  const deadline = Date.now() + 20_000;
  while (!fx.requests().some((r) => (r as { stalled?: boolean }).stalled)) {
    assert.ok(Date.now() < deadline, "the start never reached InstanceStart");
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));

  const apiSock = join(cfg.dir, "firecracker.sock");
  const orphans = processesMentioning(apiSock);
  assert.equal(orphans.length, 1, "the detached Firecracker survived its parent, as a VM must");

  const vm = await fx.backend({ network }).attach(cfg.name, cfg.dir);
  assert.ok(vm, "the VM directory names the process");
  assert.equal(vm.pid, orphans[0]);
  const tap = vm.tap?.name;
  if (canTap) assert.ok(tap && (await tapExists(tap)));
  await vm.stop({ graceMs: 0 });
  assert.equal(isRunning(orphans[0] as number), false);
  assert.deepEqual(processesMentioning(apiSock), []);
  if (tap) assert.equal(await tapExists(tap), false, "the TAP is gone too");
});
