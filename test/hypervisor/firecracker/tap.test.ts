// TAP networking with the real `ip` (iproute2). Creating TAP devices needs root (CAP_NET_ADMIN) and
// /dev/net/tun; elsewhere these tests are skipped and say why. The guest side cannot run without KVM,
// so the fake firecracker checks what the real one would: that the TAP it is told to open exists.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MvmError } from "../../../src/core/errors.js";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import type { FirecrackerVm } from "../../../src/hypervisor/firecracker/backend.js";
import { reapFirecrackerTaps } from "../../../src/hypervisor/firecracker/backend.js";
import {
  allocateTap,
  createTap,
  deleteTap,
  tapExists,
  tapForSlot,
  tapOwner,
} from "../../../src/hypervisor/firecracker/tap.js";
import { waitReady } from "../../../src/guest/readiness.js";
import { runCli } from "../../helpers/cli.js";
import { fixture } from "./helpers.js";

const canTap = process.getuid?.() === 0 && existsSync("/dev/net/tun");
const skip = canTap ? false : "needs root and /dev/net/tun to create TAP devices";

const fx = fixture();
const running: FirecrackerVm[] = [];
const taps: string[] = [];
after(async () => {
  for (const vm of running) await vm.stop({ graceMs: 0 }).catch(() => {});
  for (const t of taps) await deleteTap(t).catch(() => {});
  rmSync(fx.root, { recursive: true, force: true });
});

function cfg(name: string): VmConfig {
  return {
    name,
    dir: join(fx.root, "vms", name),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    ports: [],
  };
}

function addressesOf(dev: string): string {
  return execFileSync("ip", ["-o", "-4", "addr", "show", "dev", dev], { encoding: "utf8" });
}

describe("TAP devices for Firecracker guests", () => {
  test("slots map to disjoint /30 subnets, a name Linux accepts and a locally administered MAC", () => {
    assert.deepEqual(tapForSlot(0), {
      name: "mvmtap0",
      slot: 0,
      hostIp: "10.213.0.1",
      guestIp: "10.213.0.2",
      prefixLen: 30,
      guestMac: "06:00:0a:d5:00:02",
    });
    const last = tapForSlot(16383);
    assert.equal(last.hostIp, "10.213.255.253");
    assert.equal(last.guestIp, "10.213.255.254");
    assert.ok(last.name.length <= 15);
    assert.throws(() => tapForSlot(16384), MvmError);
  });

  test("allocate creates a real TAP with the host address; delete removes it (twice is fine)", {
    skip,
  }, async () => {
    const tap = await allocateTap(fx.paths);
    taps.push(tap.name);
    assert.equal(await tapExists(tap.name), true);
    assert.match(addressesOf(tap.name), new RegExp(`inet ${tap.hostIp.replace(/\./g, "\\.")}/30`));
    const second = await allocateTap(fx.paths);
    taps.push(second.name);
    assert.notEqual(second.name, tap.name, "a second VM gets another device");
    assert.notEqual(second.guestIp, tap.guestIp);
    await deleteTap(tap.name);
    await deleteTap(second.name);
    assert.equal(await tapExists(tap.name), false);
    await deleteTap(tap.name);
  });

  test("a failing `ip` is surfaced with the command and a fix", async () => {
    const saved = process.env.MVM_IP_BIN;
    process.env.MVM_IP_BIN = join(fx.root, "no-such-ip");
    try {
      await assert.rejects(createTap(tapForSlot(9000)), (e: unknown) => {
        assert.ok(e instanceof MvmError);
        assert.match(e.message, /no-such-ip tuntap add dev mvmtap9000 mode tap failed/);
        assert.match(e.hint ?? "", /iproute2/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.MVM_IP_BIN;
      else process.env.MVM_IP_BIN = saved;
    }
  });

  test("boot attaches the VM's TAP; restores re-point the network device with network_overrides", {
    skip,
  }, async () => {
    const backend = fx.backend({ network: "tap" });
    const vm = await backend.boot(cfg("net-src"));
    running.push(vm);
    const tap = vm.tap;
    assert.ok(tap);
    const net = fx.requests().find((r) => r.path === "/network-interfaces/eth0");
    assert.deepEqual(net?.body, { iface_id: "eth0", host_dev_name: tap.name, guest_mac: tap.guestMac });
    const boot = fx.requests().find((r) => r.path === "/boot-source")?.body as { boot_args: string };
    assert.match(boot.boot_args, new RegExp(` mvm\\.ip=${tap.guestIp}/30 mvm\\.gw=${tap.hostIp}$`));
    const snap = { dir: join(fx.root, "net-snap") };
    const result = await vm.snapshot(snap);
    assert.equal(result.fingerprint.network, "tap");
    assert.doesNotMatch(
      String(result.fingerprint.boot_args),
      /mvm\.ip=/,
      "per-VM addresses stay out of the fingerprint",
    );
    await vm.stop();
    assert.equal(await tapExists(tap.name), false, "stop removes the VM's TAP");

    const a = await backend.restore(cfg("net-a"), snap);
    running.push(a);
    const b = await backend.restore(cfg("net-b"), snap);
    running.push(b);
    assert.ok(a.tap && b.tap);
    assert.notEqual(a.tap.name, b.tap.name);
    const loads = fx.requests().filter((r) => r.path === "/snapshot/load");
    assert.deepEqual(
      loads.map((l) => [l.status, (l.body as { network_overrides?: unknown }).network_overrides]),
      [
        [204, [{ iface_id: "eth0", host_dev_name: a.tap.name }]],
        [204, [{ iface_id: "eth0", host_dev_name: b.tap.name }]],
      ],
    );
    for (const v of [a, b]) {
      assert.equal(await v.state(), "running");
      assert.equal(await tapExists(v.tap?.name ?? ""), true);
    }
    // The restored guests still have the snapshot VM's address: the post-restore request tells each
    // one the address that goes with its own TAP (the TAP's host end is its gateway).
    for (const v of [a, b]) await waitReady(v, { timeoutMs: 30_000, postRestore: true });
    const told = fx.requests().filter((r) => r.method === "GUEST" && r.path === "post_restore");
    assert.deepEqual(
      told.map((r) => r.body?.network),
      [a.tap, b.tap].map((t) => ({ iface: "eth0", address: `${t.guestIp}/30`, gateway: t.hostIp })),
    );
    assert.notEqual(a.tap.guestIp, b.tap.guestIp, "two copies of one snapshot, two addresses");
    await a.stop();
    await b.stop();
    assert.equal(await tapExists(a.tap.name), false);
    assert.equal(await tapExists(b.tap.name), false);
  });

  test("orphaned TAPs are traced to their VM directory and reaped; a running VM's TAP is kept", {
    skip,
  }, async () => {
    const vm = await fx.backend({ network: "tap" }).boot(cfg("reap-live"));
    running.push(vm);
    assert.equal(await tapOwner(vm.tap?.name ?? ""), vm.dir, "the TAP names its VM directory");
    // A TAP whose VM never got recorded (its mvmctl was killed right after creating it).
    const orphan = await allocateTap(fx.paths, join(fx.root, "vms", "never-started"));
    taps.push(orphan.name);
    const removed = await reapFirecrackerTaps(fx.paths);
    assert.ok(removed.includes(orphan.name), removed.join(","));
    assert.ok(!removed.includes(vm.tap?.name ?? ""));
    assert.equal(await tapExists(orphan.name), false);
    assert.equal(await tapExists(vm.tap?.name ?? ""), true);
    await vm.stop();
  });

  test("`down --all` removes TAPs left by VMs that are gone; failing to is a warning, not an error", {
    skip,
  }, async () => {
    // A TAP whose VM directory is gone (its mvmctl was killed before it cleaned up).
    const orphan = await allocateTap(fx.paths, join(fx.root, "vms", "killed-mid-start"));
    taps.push(orphan.name);
    const dataDir = fx.paths.root;
    const broken = await runCli(["down", "--all", "--json"], {
      dataDir,
      env: { MVM_IP_BIN: join(fx.root, "no-such-ip") },
    });
    assert.equal(broken.code, 0, broken.stderr);
    assert.match(broken.stderr, /warning: could not remove leftover TAP devices: .*no-such-ip link del/);
    assert.deepEqual(JSON.parse(broken.stdout).removed_taps, []);
    assert.equal(await tapExists(orphan.name), true);

    const down = await runCli(["down", "--all", "--json"], { dataDir });
    assert.equal(down.code, 0, down.stderr);
    assert.ok(JSON.parse(down.stdout).removed_taps.includes(orphan.name), down.stdout);
    assert.equal(await tapExists(orphan.name), false);
  });

  test("a VM that fails to start leaves no TAP behind", { skip }, async () => {
    const before = readdirSync("/sys/class/net").filter((n) => n.startsWith("mvmtap"));
    await assert.rejects(
      fx.backend({ network: "tap", env: { FAKE_FC_FAIL_START: "1" } }).boot(cfg("net-fail")),
    );
    const afterwards = readdirSync("/sys/class/net").filter((n) => n.startsWith("mvmtap"));
    assert.deepEqual(afterwards, before);
  });
});
