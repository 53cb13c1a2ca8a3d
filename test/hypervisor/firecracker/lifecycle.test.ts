// The Firecracker backend's boot, snapshot and restore sequences, exercised against the wire-level
// fake (a real process on a real unix socket that validates every request against the documented API).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import type { FirecrackerVm } from "../../../src/hypervisor/firecracker/backend.js";
import { GuestChannel } from "../../../src/guest/channel.js";
import { fixture, isRunning, MiB, processesMentioning } from "./helpers.js";

const fx = fixture();
const running: FirecrackerVm[] = [];
after(async () => {
  for (const vm of running) await vm.stop({ graceMs: 0 }).catch(() => {});
  rmSync(fx.root, { recursive: true, force: true });
});

function cfg(name: string, extra: Partial<VmConfig> = {}): VmConfig {
  return {
    name,
    dir: join(fx.root, "vms", name),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 2,
    memMib: 256,
    ports: [],
    ...extra,
  };
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** Opens the host side of the guest channel and does Firecracker's vsock handshake. */
function vsockHandshake(uds: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(uds);
    let got = "";
    s.on("connect", () => s.write(`CONNECT ${port}\n`));
    s.on("data", (d) => {
      got += d.toString();
      if (got.includes("\n")) {
        s.destroy();
        resolve(got.split("\n")[0] as string);
      }
    });
    s.on("error", reject);
  });
}

describe("firecracker backend against the wire-level fake", () => {
  const rootfsBefore = sha(fx.rootfs);

  test("boot sends the documented configuration in order, with paths relative to the VM directory", async () => {
    const c = cfg("boot1", { bootArgs: "mvm.debug=1" });
    const vm = await fx.backend().boot(c);
    running.push(vm);
    const reqs = fx.requests().filter((r) => r.path !== "/" || r.method !== "GET");
    assert.deepEqual(
      reqs.map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        "PUT /logger 204",
        "PUT /boot-source 204",
        "PUT /machine-config 204",
        "PUT /drives/rootfs 204",
        "PUT /vsock 204",
        "PUT /actions 204",
      ],
    );
    const byPath = new Map(reqs.map((r) => [r.path, r.body]));
    assert.deepEqual(byPath.get("/drives/rootfs"), {
      drive_id: "rootfs",
      path_on_host: "rootfs.ext4",
      is_root_device: true,
      is_read_only: false,
    });
    assert.deepEqual(byPath.get("/vsock"), { guest_cid: 3, uds_path: "v.sock" });
    assert.deepEqual(byPath.get("/machine-config"), { vcpu_count: 2, mem_size_mib: 256, smt: false });
    assert.deepEqual(byPath.get("/actions"), { action_type: "InstanceStart" });
    const boot = byPath.get("/boot-source") as { kernel_image_path: string; boot_args: string };
    assert.equal(boot.kernel_image_path, fx.kernel);
    assert.match(boot.boot_args, /^console=ttyS0 .*root=\/dev\/vda rw .* mvm\.debug=1$/);

    assert.equal(await vm.state(), "running");
    assert.ok(lstatSync(vm.guestChannel).isSocket(), "the vsock socket is bound in the VM directory");
    assert.equal(vm.guestChannel, join(c.dir, "v.sock"));
    assert.equal(await vsockHandshake(vm.guestChannel, vm.guestVsockPort), "OK 1073741824");
    const channel = await GuestChannel.connectFirecrackerVsock(vm.guestChannel, vm.guestVsockPort);
    assert.equal(
      (await channel.ping()).agent,
      "fake-firecracker-guest",
      "the guest channel client talks through it",
    );
    channel.close();
    assert.match(readFileSync(vm.consoleLog, "utf8"), /\[fake guest\] booting: console=ttyS0/);
    // The VM runs on its own copy; the template's image is untouched and the copy keeps its holes.
    const copy = join(c.dir, "rootfs.ext4");
    assert.equal(sha(copy), rootfsBefore);
    assert.ok(statSync(copy).blocks * 512 < 1 * MiB, "the per-VM rootfs copy is sparse");

    await vm.pause();
    assert.equal(await vm.state(), "paused");
    await vm.resume();
    assert.equal(await vm.state(), "running");

    const pid = vm.pid;
    await vm.stop();
    assert.equal(isRunning(pid), false, "no Firecracker process outlives stop()");
    assert.equal(await vm.state(), "stopped");
    for (const f of ["firecracker.sock", "v.sock", "firecracker.json"])
      assert.equal(existsSync(join(c.dir, f)), false, f);
    await vm.stop(); // idempotent
    const cad = fx
      .requests()
      .filter((r) => r.path === "/actions" && r.body?.action_type === "SendCtrlAltDel");
    assert.deepEqual(
      cad.map((r) => r.status),
      [204],
      "stop asks the guest to shut down once before any signal",
    );
    assert.equal(sha(fx.rootfs), rootfsBefore, "the template rootfs was never written");
  });

  test("another mvmctl can re-attach to a running VM and stop it; a recycled pid is never killed", async () => {
    const c = cfg("attach1");
    const vm = await fx.backend().boot(c);
    running.push(vm);
    const other = fx.backend(); // as `mvmctl down` in a second process would build it
    const again = await other.attach(c.name, c.dir);
    assert.ok(again);
    assert.equal(again.pid, vm.pid);
    assert.equal(await again.state(), "running");
    await again.stop({ graceMs: 0 });
    assert.equal(isRunning(vm.pid), false);
    assert.equal(await other.attach(c.name, c.dir), undefined, "nothing to attach once stopped");

    // A state file whose pid now belongs to some other process (here: this test runner).
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(
      join(c.dir, "firecracker.json"),
      JSON.stringify({ pid: process.pid, tap: null, tap_slot: null, started_at: "x" }),
    );
    const stale = await other.attach(c.name, c.dir);
    assert.ok(stale);
    assert.equal(await stale.state(), "stopped");
    await stale.stop();
    assert.equal(isRunning(process.pid), true, "still alive: the recycled pid was left alone");
    assert.equal(existsSync(join(c.dir, "firecracker.json")), false);

    // A damaged or hostile record is "no VM here", never a crash or a signal to some pid.
    for (const bad of [
      "not json",
      "null",
      JSON.stringify({ pid: -1, tap_slot: null, started_at: "x" }),
      JSON.stringify({ pid: 1, tap_slot: 99999, started_at: "x" }),
      JSON.stringify({ pid: "1", tap_slot: null, started_at: "x" }),
    ]) {
      writeFileSync(join(c.dir, "firecracker.json"), bad);
      assert.equal(await other.attach(c.name, c.dir), undefined, bad);
    }
  });

  test("extra drives keep fixed relative names (vdb config ro, vdc secrets ro, vdd data rw)", async () => {
    const files = {
      config: join(fx.root, "cfg.img"),
      secrets: join(fx.root, "sec.img"),
      data: join(fx.root, "data.img"),
    };
    for (const f of Object.values(files)) writeFileSync(f, "x");
    const c = cfg("drives1", { drives: files });
    const start = fx.requests().length;
    const vm = await fx.backend().boot(c);
    running.push(vm);
    const drives = fx
      .requests()
      .slice(start)
      .filter((r) => r.path.startsWith("/drives/"))
      .map((r) => r.body);
    assert.deepEqual(drives, [
      { drive_id: "rootfs", path_on_host: "rootfs.ext4", is_root_device: true, is_read_only: false },
      { drive_id: "config", path_on_host: "config.ext4", is_root_device: false, is_read_only: true },
      { drive_id: "secrets", path_on_host: "secrets.ext4", is_root_device: false, is_read_only: true },
      { drive_id: "data", path_on_host: "data.ext4", is_root_device: false, is_read_only: false },
    ]);
    assert.equal(readlinkSync(join(c.dir, "config.ext4")), files.config);
    await vm.stop();
  });

  test("a snapshot restores in other VM directories, side by side, mapping the saved memory in place", async () => {
    const backend = fx.backend();
    const src = cfg("snapsrc");
    const vm = await backend.boot(src);
    running.push(vm);
    const snapDir = join(fx.root, "revision", "snapshot");
    const result = await vm.snapshot({ dir: snapDir });
    assert.equal(await vm.state(), "paused", "snapshot() pauses a running VM first");
    const create = fx.requests().find((r) => r.path === "/snapshot/create");
    assert.deepEqual(create?.body, {
      snapshot_type: "Full",
      snapshot_path: join(snapDir, "vmstate.bin"),
      mem_file_path: join(snapDir, "mem.bin"),
    });
    for (const f of ["vmstate.bin", "mem.bin", "disk.ext4"])
      assert.equal(statSync(join(snapDir, f)).mode & 0o777, 0o600, `${f} is private`);
    assert.equal(result.memBytes, 256 * MiB);
    assert.ok(result.memAllocatedBytes < result.memBytes / 10, "an idle guest's memory file is mostly holes");
    assert.equal(result.vmstateBytes, statSync(join(snapDir, "vmstate.bin")).size);
    assert.equal(result.fingerprint.backend, "firecracker");
    assert.equal(result.fingerprint.backend_version, "1.12.1");
    assert.match(result.bootArgs, /^console=ttyS0 /);
    await vm.stop();
    // The source VM's directory is gone: nothing in the snapshot may point into it.
    rmSync(src.dir, { recursive: true, force: true });

    const a = await backend.restore(cfg("clone-a"), { dir: snapDir });
    running.push(a);
    const b = await backend.restore(cfg("clone-b"), { dir: snapDir });
    running.push(b);
    const loads = fx.requests().filter((r) => r.path === "/snapshot/load");
    assert.equal(loads.length, 2);
    for (const l of loads) {
      assert.equal(l.status, 204, l.fault);
      assert.deepEqual(l.body, {
        snapshot_path: join(snapDir, "vmstate.bin"),
        mem_backend: { backend_type: "File", backend_path: join(snapDir, "mem.bin") },
        resume_vm: true,
      });
    }
    for (const v of [a, b]) {
      assert.equal(await v.state(), "running");
      assert.ok(lstatSync(v.guestChannel).isSocket());
      const ch = await GuestChannel.connectFirecrackerVsock(v.guestChannel);
      assert.equal((await ch.ping()).protocol, 1);
      ch.close();
      assert.equal(existsSync(join(v.dir, "mem.bin")), false, "guest memory is not copied per VM");
      assert.equal(sha(join(v.dir, "rootfs.ext4")), sha(join(snapDir, "disk.ext4")));
    }
    assert.notEqual(a.pid, b.pid);
    await a.stop();
    assert.equal(await b.state(), "running", "stopping one clone leaves the other running");
    await b.stop();
    assert.deepEqual(processesMentioning(join(fx.root, "vms")), []);
  });

  test("restore refuses a QEMU snapshot and names missing snapshot files", async () => {
    const dir = join(fx.root, "qemu-snap");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of ["vmstate.bin", "mem.bin", "disk.qcow2"]) writeFileSync(join(dir, f), "x");
    await assert.rejects(fx.backend().restore(cfg("fromqemu"), { dir }), (e: Error & { kind?: string }) => {
      assert.equal(e.kind, "unsupported");
      assert.match(e.message, /made by QEMU; Firecracker cannot restore it/);
      return true;
    });
    rmSync(join(dir, "mem.bin"));
    await assert.rejects(fx.backend().restore(cfg("fromqemu"), { dir }), /snapshot file missing: .*mem\.bin/);
  });

  test("fingerprint records the backend, its version and what the snapshot depends on", async () => {
    const backend = fx.backend();
    const fp = await backend.fingerprint(cfg("fp"));
    assert.equal(fp.backend, "firecracker");
    assert.equal(fp.backend_version, "1.12.1");
    assert.equal(fp.vcpus, 2);
    assert.equal(fp.mem_mib, 256);
    assert.equal(fp.rootfs_sha256, sha(fx.rootfs));
    assert.equal(fp.kernel_sha256, sha(fx.kernel));
    assert.equal(fp.initrd_sha256, null);
    assert.equal(fp.network, "none");
    const other = await backend.fingerprint(cfg("fp", { memMib: 512 }));
    assert.notEqual(other.mem_mib, fp.mem_mib);
    const known = "a".repeat(64);
    const given = await backend.fingerprint({ ...cfg("fp"), digests: { rootfs: known } } as VmConfig);
    assert.equal(given.rootfs_sha256, known, "digests the caller already has are used as they are");
    const newer = await fx.backend({ env: { FAKE_FC_VERSION: "1.13.0" } }).fingerprint(cfg("fp"));
    assert.equal(newer.backend_version, "1.13.0", "a Firecracker upgrade changes the fingerprint");
  });
});
