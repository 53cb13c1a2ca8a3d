// The same sequences against a REAL Firecracker on a KVM host. Skipped unless MVM_FC_REAL=1 (this
// machine has no usable KVM and no Firecracker). On a KVM host, see docs/firecracker.md:
//
//   MVM_FC_REAL=1 MVM_FC_KERNEL=/path/vmlinux MVM_FC_ROOTFS=/path/rootfs.ext4 [MVM_FC_INITRD=…] \
//     node --test dist/test/hypervisor/firecracker/real-kvm.test.js
//
// The rootfs must run the mvm guest agent (it answers on vsock port 52), e.g. a template revision's.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DataPaths } from "../../../src/store/paths.js";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import { FirecrackerBackend, type FirecrackerVm } from "../../../src/hypervisor/firecracker/backend.js";
import { isRunning } from "./helpers.js";

const env = process.env;
const enabled = env.MVM_FC_REAL === "1";
const skip = enabled
  ? false
  : "set MVM_FC_REAL=1 (with MVM_FC_KERNEL and MVM_FC_ROOTFS) on a KVM host with Firecracker";

const root = mkdtempSync(join(tmpdir(), "mvm-fc-real-"));
const vms: FirecrackerVm[] = [];
after(async () => {
  for (const vm of vms) await vm.stop({ graceMs: 0 }).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

function cfg(name: string): VmConfig {
  return {
    name,
    dir: join(root, name),
    images: {
      kernel: env.MVM_FC_KERNEL ?? "",
      rootfs: env.MVM_FC_ROOTFS ?? "",
      ...(env.MVM_FC_INITRD ? { initrd: env.MVM_FC_INITRD } : {}),
    },
    vcpus: 1,
    memMib: Number(env.MVM_FC_MEM_MIB ?? 256),
    ports: [],
  };
}

/** Retries Firecracker's host-initiated vsock handshake until the guest agent accepts port 52. */
async function waitForAgent(uds: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const line = await new Promise<string>((resolve) => {
      const s = connect(uds);
      let got = "";
      const done = (v: string) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(2_000, () => done(""));
      s.on("connect", () => s.write("CONNECT 52\n"));
      s.on("data", (d) => {
        got += d.toString();
        if (got.includes("\n")) done(got.split("\n")[0] ?? "");
      });
      s.on("error", () => done(""));
      s.on("close", () => done(got));
    });
    if (line.startsWith("OK ")) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`guest agent did not accept vsock port 52 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("real Firecracker: boot, agent over vsock, snapshot, two restores side by side, stop", {
  skip,
}, async () => {
  const backend = new FirecrackerBackend({ paths: new DataPaths(join(root, "data")) });
  const av = await backend.available();
  assert.ok(av.ok, av.reason);
  const vm = await backend.boot(cfg("src"));
  vms.push(vm);
  const bootMs = await waitForAgent(vm.guestChannel, 120_000);
  const snap = { dir: join(root, "snapshot") };
  const result = await vm.snapshot(snap);
  await vm.stop();
  rmSync(vm.dir, { recursive: true, force: true });
  const t0 = Date.now();
  const a = await backend.restore(cfg("a"), snap);
  vms.push(a);
  const restoreMs = Date.now() - t0 + (await waitForAgent(a.guestChannel, 30_000));
  const b = await backend.restore(cfg("b"), snap);
  vms.push(b);
  await waitForAgent(b.guestChannel, 30_000);
  process.stdout.write(
    `# firecracker ${await backend.version()}: boot-to-agent ${bootMs} ms, restore-to-agent ${restoreMs} ms, ` +
      `mem.bin ${result.memBytes} bytes (${result.memAllocatedBytes} allocated)\n`,
  );
  for (const v of [a, b]) {
    assert.equal(await v.state(), "running");
    const pid = v.pid;
    await v.stop();
    assert.equal(isRunning(pid), false);
    if (v.tap) assert.equal(existsSync(`/sys/class/net/${v.tap.name}`), false);
  }
  assert.deepEqual(
    readdirSync(a.dir).filter((f) => f.endsWith(".sock")),
    [],
  );
});
