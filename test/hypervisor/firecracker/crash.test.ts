// A crash of mvmctl in the middle of a start leaves nothing behind: the keeper that owns the
// Firecracker process sees its mvmctl go and removes the VM, its TAP and its directory.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import { tapExists } from "../../../src/hypervisor/firecracker/tap.js";
import { FAKE_SCRIPT, fixture, isRunning, processesMentioning } from "./helpers.js";

const fx = fixture();
after(() => rmSync(fx.root, { recursive: true, force: true }));
const canTap = process.getuid?.() === 0 && existsSync("/dev/net/tun");

test("mvmctl killed while Firecracker hangs on InstanceStart: the VM, its TAP and its directory go with it", async () => {
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
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  let childExit: number | null | undefined;
  child.once("exit", (c) => {
    childExit = c;
  });
  const deadline = Date.now() + 30_000;
  while (!fx.requests().some((r) => (r as { stalled?: boolean }).stalled)) {
    assert.equal(childExit, undefined, `the starting mvmctl exited early: ${stderr}`);
    assert.ok(Date.now() < deadline, `the start never reached InstanceStart: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const apiSock = join(cfg.dir, "firecracker.sock");
  const vmm = processesMentioning(apiSock).find(
    (p) => !readFileSync(`/proc/${p}/cmdline`, "utf8").includes("keeper"),
  );
  assert.ok(vmm, "Firecracker is running");
  const tap = canTap ? JSON.parse(readFileSync(join(cfg.dir, "firecracker.json"), "utf8")).tap : null;
  if (canTap) assert.ok(tap && (await tapExists(tap)));
  child.kill("SIGKILL");
  while (childExit === undefined) await new Promise((r) => setTimeout(r, 20));

  // The VM was never handed over (no detach): its keeper kills it and removes what it held.
  const until = Date.now() + 10_000;
  while ((processesMentioning(apiSock).length > 0 || existsSync(cfg.dir)) && Date.now() < until)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(isRunning(vmm), false, "Firecracker did not outlive the crashed mvmctl");
  assert.deepEqual(processesMentioning(apiSock), [], "nor did its keeper");
  assert.equal(existsSync(cfg.dir), false, "the VM directory is gone");
  if (tap) assert.equal(await tapExists(tap), false, "the TAP is gone too");
});

test("a detached VM outlives its mvmctl; when it is stopped later its keeper removes TAP and directory", async () => {
  const network = canTap ? "tap" : "none";
  const cfg: VmConfig = {
    name: "detached1",
    dir: join(fx.root, "vms", "detached1"),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    ports: [],
  };
  const child = spawn(
    process.execPath,
    [
      resolve(import.meta.dirname, "boot-in-child.js"),
      JSON.stringify({ cfg, network, dataDir: fx.paths.root, detach: true }),
    ],
    {
      env: {
        ...process.env,
        MVM_FIRECRACKER_BIN: fx.bin,
        FAKE_FC_NODE: process.execPath,
        FAKE_FC_SCRIPT: FAKE_SCRIPT,
        FAKE_FC_LOG: fx.log,
      },
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const code = await new Promise((r) => child.once("exit", r));
  assert.equal(code, 0, "up -d returns");
  const pid = Number(/booted (\d+)/.exec(out)?.[1]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(isRunning(pid), true, "the VM keeps running after its mvmctl exited");

  const vm = await fx.backend({ network }).attach(cfg.name, cfg.dir);
  assert.ok(vm);
  assert.equal(await vm.state(), "running");
  const tap = vm.tap?.name;
  await vm.stop({ graceMs: 0 });
  assert.equal(isRunning(pid), false);
  const until = Date.now() + 10_000;
  while (existsSync(cfg.dir) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(cfg.dir), false, "the keeper removed the VM directory once the VM ended");
  if (tap) assert.equal(await tapExists(tap), false);
  assert.deepEqual(processesMentioning(join(cfg.dir, "firecracker.sock")), []);
});
