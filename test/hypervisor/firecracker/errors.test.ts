// Error paths: whatever goes wrong while starting or restoring Firecracker is reported in one clear
// line carrying Firecracker's own fault message, and no process, socket or TAP is left behind.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MvmError } from "../../../src/core/errors.js";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import { FirecrackerApi, FirecrackerApiError } from "../../../src/hypervisor/firecracker/api.js";
import { FirecrackerBackend, type FirecrackerVm } from "../../../src/hypervisor/firecracker/backend.js";
import { FAKE_SCRIPT, fixture, processesMentioning } from "./helpers.js";

const fx = fixture();
const running: FirecrackerVm[] = [];
after(async () => {
  for (const vm of running) await vm.stop({ graceMs: 0 }).catch(() => {});
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

/** Nothing of the VM's Firecracker survives: no process naming its socket, no socket files. */
function assertNothingLeft(dir: string): void {
  assert.deepEqual(processesMentioning(join(dir, "firecracker.sock")), [], "no firecracker process left");
  for (const f of ["firecracker.sock", "v.sock", "firecracker.json"])
    assert.equal(existsSync(join(dir, f)), false, f);
}

describe("firecracker error paths", () => {
  test("a 400 on InstanceStart surfaces Firecracker's fault_message and kills the process", async () => {
    const c = cfg("start400");
    await assert.rejects(fx.backend({ env: { FAKE_FC_FAIL_START: "1" } }).boot(c), (e: unknown) => {
      assert.ok(e instanceof FirecrackerApiError);
      assert.equal(e.status, 400);
      assert.match(
        e.message,
        /^firecracker PUT \/actions answered 400: Start microvm error: Cannot load kernel/,
      );
      assert.equal(e.message.includes("\n"), false, "one line");
      return true;
    });
    assertNothingLeft(c.dir);
  });

  test("a socket that never appears times out and the process is killed", async () => {
    const c = cfg("nosock");
    const t0 = Date.now();
    await assert.rejects(
      fx.backend({ env: { FAKE_FC_NO_SOCKET: "1" }, socketTimeoutMs: 600 }).boot(c),
      (e: unknown) => {
        assert.ok(e instanceof MvmError);
        assert.equal(e.kind, "timeout");
        assert.match(e.message, /firecracker's API socket did not appear within 600 ms/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 5_000, "gives up near the deadline");
    assertNothingLeft(c.dir);
  });

  test("a process that dies before its socket appears is reported with its exit code and last words", async () => {
    const c = cfg("dies");
    await assert.rejects(fx.backend({ env: { FAKE_FC_EXIT_EARLY: "3" } }).boot(c), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.match(e.message, /firecracker exited with code 3 before its API socket appeared/);
      assert.match(e.hint ?? "", /Failed to open \/dev\/kvm: Permission denied/);
      return true;
    });
    assertNothingLeft(c.dir);
  });

  test("a process that dies in the middle of configuration is reported, not waited on", async () => {
    const c = cfg("diesmid");
    await assert.rejects(fx.backend({ env: { FAKE_FC_DIE_ON: "/machine-config" } }).boot(c), (e: unknown) => {
      assert.ok(e instanceof FirecrackerApiError);
      assert.match(e.message, /firecracker PUT \/machine-config failed: .*did the process exit\?/);
      assert.match(e.hint ?? "", /dying on PUT \/machine-config/);
      return true;
    });
    assertNothingLeft(c.dir);
  });

  test("a snapshot from another Firecracker version fails to load with its reason, and the process ends", async () => {
    const made = fx.backend({ env: { FAKE_FC_VERSION: "1.12.1" } });
    const vm = await made.boot(cfg("v1"));
    running.push(vm);
    const snap = { dir: join(fx.root, "snap-v1") };
    await vm.snapshot(snap);
    await vm.stop();
    const c = cfg("v2");
    await assert.rejects(
      fx.backend({ env: { FAKE_FC_VERSION: "1.13.0" } }).restore(c, snap),
      (e: unknown) => {
        assert.ok(e instanceof FirecrackerApiError);
        assert.match(
          e.message,
          /PUT \/snapshot\/load answered 400: Load snapshot error: snapshot version 1\.12\.1/,
        );
        return true;
      },
    );
    assertNothingLeft(c.dir);
  });

  test("restoring with TAP networking on a Firecracker without network_overrides is refused up front", async () => {
    const vm = await fx.backend({ env: { FAKE_FC_VERSION: "1.11.0" } }).boot(cfg("old"));
    running.push(vm);
    const snap = { dir: join(fx.root, "snap-old") };
    await vm.snapshot(snap);
    await vm.stop();
    const old = fx.backend({ env: { FAKE_FC_VERSION: "1.11.0" }, network: "tap" });
    await assert.rejects(old.restore(cfg("old2"), snap), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.equal(e.kind, "unsupported");
      assert.match(e.message, /Firecracker 1\.11\.0 cannot re-point a restored VM's network device/);
      return true;
    });
    assert.equal(existsSync(cfg("old2").dir), false, "refused before anything was created");
    // The same snapshot restores without a network device.
    const ok = await fx.backend({ env: { FAKE_FC_VERSION: "1.11.0" } }).restore(cfg("old3"), snap);
    running.push(ok);
    assert.equal(await ok.state(), "running");
    await ok.stop();
  });

  test("a bzImage kernel is refused before Firecracker starts, with the fix", async () => {
    const bz = join(fx.root, "vmlinuz");
    const img = Buffer.alloc(0x1000);
    img.write("HdrS", 0x202, "latin1");
    writeFileSync(bz, img);
    const c = { ...cfg("bz"), images: { kernel: bz, rootfs: fx.rootfs } };
    const before = fx.requests().length;
    await assert.rejects(fx.backend().boot(c), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.equal(e.kind, "unsupported");
      assert.match(e.message, /Firecracker boots an uncompressed ELF vmlinux; .*vmlinuz is a bzImage/);
      assert.match(e.hint ?? "", /--hypervisor qemu/);
      return true;
    });
    assert.equal(fx.requests().length, before, "no Firecracker was started");
    assert.equal(existsSync(c.dir), false);
  });

  test("a missing binary makes the backend unavailable, with the fix", async () => {
    const b = new FirecrackerBackend({
      env: { PATH: "/nonexistent", MVM_FIRECRACKER_BIN: "" },
      network: "none",
    });
    const av = await b.available();
    assert.equal(av.ok, false);
    assert.match(av.reason ?? "", /firecracker binary not found/);
    await assert.rejects(b.boot(cfg("nobin")), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.match(e.message, /firecracker binary not found/);
      assert.match(e.hint ?? "", /MVM_FIRECRACKER_BIN/);
      return true;
    });
    const forced = new FirecrackerBackend({ env: { MVM_FIRECRACKER_BIN: join(fx.root, "nope") } });
    assert.equal((await forced.available()).ok, false);
  });

  test("the fake enforces the documented API: unknown fields, types, pre-boot rules, load only when fresh", async () => {
    const vm = await fx.backend().boot(cfg("api"));
    running.push(vm);
    const api = new FirecrackerApi(join(vm.dir, "firecracker.sock"));
    // Pre-boot resources cannot change once the microVM runs.
    await assert.rejects(
      api.putMachineConfig({ vcpu_count: 1, mem_size_mib: 128 }),
      /answered 400: The requested operation is not supported after starting the microVM/,
    );
    await assert.rejects(
      api.loadSnapshot({ snapshot_path: "x", mem_backend: { backend_type: "File", backend_path: "y" } }),
      /answered 400: The requested operation is not supported after starting the microVM/,
    );
    // Types and unknown fields, as serde would reject them.
    await assert.rejects(api.call("PATCH", "/vm", { state: "Paused", extra: 1 }), /unknown field `extra`/);
    await assert.rejects(api.call("PATCH", "/vm", { state: "Sleeping" }), /unknown variant `Sleeping`/);
    await assert.rejects(
      api.call("PUT", "/vsock", { guest_cid: "3", uds_path: "a" }),
      /invalid type for `guest_cid`/,
    );
    await assert.rejects(
      api.call("PUT", "/nothing", {}),
      /Invalid request method and\/or path: PUT \/nothing/,
    );
    await vm.stop();

    // A fresh process: loading a snapshot after configuring a boot resource is refused.
    const dir = join(fx.root, "fresh");
    mkdirSync(dir, { recursive: true });
    const sock = join(dir, "api.sock");
    const proc = spawn(fx.bin, ["--api-sock", sock], {
      cwd: dir,
      env: { ...process.env, FAKE_FC_NODE: process.execPath, FAKE_FC_SCRIPT: FAKE_SCRIPT },
      stdio: "ignore",
    });
    try {
      const fresh = new FirecrackerApi(sock);
      const until = Date.now() + 30_000;
      let info: Awaited<ReturnType<FirecrackerApi["describeInstance"]>> | undefined;
      while (!info) {
        info = await fresh.describeInstance().catch((e) => {
          if (Date.now() > until) throw e;
          return undefined;
        });
        if (!info) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(info.state, "Not started");
      await fresh.putBootSource({ kernel_image_path: fx.kernel });
      await assert.rejects(
        fresh.loadSnapshot({ snapshot_path: "x", mem_backend: { backend_type: "File", backend_path: "y" } }),
        /Loading a microVM snapshot not allowed after configuring boot-specific resources/,
      );
      await assert.rejects(
        fresh.putBootSource({ kernel_image_path: "missing" }),
        /kernel file cannot be opened/,
      );
      await assert.rejects(fresh.pause(), /not supported before starting the microVM/);
    } finally {
      proc.kill("SIGKILL");
    }
    assert.deepEqual(
      readdirSync(vm.dir).filter((f) => f.endsWith(".sock")),
      [],
      "stop removes the sockets",
    );
  });
});
