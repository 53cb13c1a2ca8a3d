// `-p HOST:GUEST` on Firecracker: the forwarder process with real TCP sockets, and its life tied to
// the VM's.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { MvmError } from "../../../src/core/errors.js";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import type { FirecrackerVm } from "../../../src/hypervisor/firecracker/backend.js";
import { parseSpec, startForwarder } from "../../../src/hypervisor/firecracker/port-forwarder.js";
import { fixture, isRunning, processesMentioning } from "./helpers.js";

const fx = fixture();
const running: FirecrackerVm[] = [];
const servers: Server[] = [];
after(async () => {
  for (const vm of running) await vm.stop({ graceMs: 0 }).catch(() => {});
  for (const s of servers) s.close();
  rmSync(fx.root, { recursive: true, force: true });
});
const canTap = process.getuid?.() === 0 && existsSync("/dev/net/tun");

/** A TCP service standing in for the guest's: answers each line with "echo: <line>". */
async function echoServer(): Promise<number> {
  const s = createServer((c) => c.on("data", (d) => c.write(`echo: ${d}`)));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, "127.0.0.1", () => c.write(text));
    c.on("data", (d) => {
      c.end();
      resolve(d.toString());
    });
    c.on("error", reject);
  });
}

test("forwards host connections to the guest address and exits when the VM process is gone", async () => {
  const guestPort = await echoServer();
  const hostPort = await freePort();
  const vmProcess = spawn("sleep", ["60"], { stdio: "ignore" });
  const pid = await startForwarder({
    specs: [{ hostAddress: "127.0.0.1", hostPort, guestAddress: "127.0.0.1", guestPort }],
    vmDir: fx.root,
    watchPid: vmProcess.pid as number,
    logPath: join(fx.root, "fwd.log"),
  });
  assert.equal(await roundTrip(hostPort, "hello\n"), "echo: hello\n");
  assert.equal(await roundTrip(hostPort, "again\n"), "echo: again\n", "each connection is forwarded");
  vmProcess.kill("SIGKILL");
  const until = Date.now() + 5_000;
  while (isRunning(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(isRunning(pid), false, "the forwarder does not outlive the VM");
});

test("a host port already in use fails the start with a clear reason", async () => {
  const busy = createServer();
  servers.push(busy);
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const hostPort = (busy.address() as { port: number }).port;
  await assert.rejects(
    startForwarder({
      specs: [{ hostAddress: "127.0.0.1", hostPort, guestAddress: "127.0.0.1", guestPort: 80 }],
      vmDir: fx.root,
      watchPid: process.pid,
      logPath: join(fx.root, "fwd2.log"),
    }),
    (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.equal(e.message, `host port 127.0.0.1:${hostPort} is already in use`);
      return true;
    },
  );
});

test("forward specs are validated", () => {
  assert.deepEqual(parseSpec("127.0.0.1:8080=10.213.0.2:80"), {
    hostAddress: "127.0.0.1",
    hostPort: 8080,
    guestAddress: "10.213.0.2",
    guestPort: 80,
  });
  assert.throws(() => parseSpec("127.0.0.1:0=10.213.0.2:80"), /invalid host port/);
  assert.throws(() => parseSpec("localhost:80=10.213.0.2:80"), /invalid host address/);
  assert.throws(() => parseSpec("127.0.0.1:80=x;rm:80"), /invalid guest address/);
});

test("ports need TAP networking: refused up front without it", async () => {
  const c: VmConfig = {
    name: "noports",
    dir: join(fx.root, "vms", "noports"),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    ports: [{ host: 18080, guest: 80 }],
  };
  const b = fx.backend({ network: "none" });
  assert.equal((await b.capabilities()).portForwarding, false);
  await assert.rejects(b.boot(c), /port forwarding on Firecracker needs TAP networking/);
  assert.equal(existsSync(c.dir), false);
  assert.equal((await fx.backend({ network: "tap" }).capabilities()).portForwarding, true);
});

test("a VM with -p gets a forwarder to its guest address, stopped with the VM", {
  skip: canTap ? false : "needs root and /dev/net/tun",
}, async () => {
  const hostPort = await freePort();
  const c: VmConfig = {
    name: "ports1",
    dir: join(fx.root, "vms", "ports1"),
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    ports: [{ host: hostPort, guest: 80 }],
  };
  const vm = await fx.backend({ network: "tap" }).boot(c);
  running.push(vm);
  const fwd = processesMentioning("port-forwarder.js").filter((p) =>
    readFileSync(`/proc/${p}/cmdline`, "utf8").includes(c.dir),
  );
  assert.equal(fwd.length, 1);
  const cmd = readFileSync(`/proc/${fwd[0]}/cmdline`, "utf8").split("\0");
  assert.ok(cmd.includes(`127.0.0.1:${hostPort}=${vm.tap?.guestIp}:80`), cmd.join(" "));
  const rec = JSON.parse(readFileSync(join(c.dir, "firecracker.json"), "utf8"));
  assert.equal(rec.forwarder_pid, fwd[0]);
  await vm.stop();
  assert.equal(isRunning(fwd[0] as number), false, "stop ends the forwarder");
  // The host port is free again.
  const again = createServer();
  servers.push(again);
  await new Promise<void>((r, j) => {
    again.once("error", j);
    again.listen(hostPort, "127.0.0.1", r);
  });
});
