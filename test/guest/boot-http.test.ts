import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { GuestChannel, HealthReport } from "../../src/guest/channel.js";
import { buildExampleImage } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

// One boot of the http example under QEMU (TCG) covers: DHCP on slirp + a forwarded port, the
// health check reported over the virtio-serial channel, post-restore (identity, services
// restarted through SIGUSR1) and a clean shutdown through the agent.

let vm: TestVm;
let ch: GuestChannel;
const work = mkdtempSync(join(tmpdir(), "mvm-boot-http-"));

// Fresh results only: a cached report can predate a service restart and call a stopping server healthy.
async function waitHealthy(c: GuestChannel, timeoutMs: number): Promise<HealthReport> {
  const deadline = Date.now() + timeoutMs;
  let last: HealthReport | undefined;
  while (Date.now() < deadline) {
    last = await c.health({ fresh: true, timeoutMs: 30_000 });
    if (last.ready) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not healthy: ${JSON.stringify(last)}`);
}

async function httpGet(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

before(async () => {
  const image = await buildExampleImage("http");
  vm = await bootQemu({ image, workDir: work, forward: [8080] });
  ch = await vm.channel(180_000);
});

after(async () => {
  ch?.close();
  await vm?.stop();
  await rm(work, { recursive: true, force: true });
});

test("http example: the page answers on the forwarded port and the check is healthy over the channel", async () => {
  const report = await waitHealthy(ch, 60_000);
  const web = report.checks.find((c) => c.name === "web");
  assert.ok(web, "check web reported");
  assert.equal(web.healthy, true);
  assert.equal(web.status, "healthy");
  assert.equal(web.interval_secs, 2);
  const res = await httpGet(vm.ports.get(8080)!);
  assert.equal(res.status, 200);
  assert.match(res.body, /hello from mvm/);
  assert.match(vm.console(), /\[init\] network: eth0 10\.0\.2\.15/, "DHCP lease from slirp");
});

test("post-restore gives a fresh identity, reseeds, and restarts services through PID 1", async () => {
  const before = (await ch.services()).find((s) => s.name === "web");
  assert.ok(before?.running);
  const pong0 = await ch.ping();
  assert.equal(pong0.hostname, "http");
  const r = await ch.postRestore({
    identity: { hostnameSuffix: "a1b2c3", machineId: "0123456789abcdef0123456789abcdef" },
  });
  assert.equal(r.hostname, "http-a1b2c3");
  assert.equal(r.machine_id, "0123456789abcdef0123456789abcdef");
  assert.equal(r.reseeded_bytes, 64);
  assert.equal(r.signalled_init, true);
  assert.equal((await ch.ping()).hostname, "http-a1b2c3");
  // SIGUSR1 made PID 1 restart every service: the restart counter moves, the page comes back.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const web = (await ch.services()).find((s) => s.name === "web");
    if (web && web.restarts > before.restarts && web.running) break;
    assert.ok(Date.now() < deadline, `web was not restarted: ${JSON.stringify(web)}`);
    await new Promise((res) => setTimeout(res, 300));
  }
  await waitHealthy(ch, 30_000);
  assert.equal((await httpGet(vm.ports.get(8080)!)).status, 200);
  // restart_services: false leaves the warm services alone (no SIGUSR1 to PID 1).
  const counted = (await ch.services()).find((s) => s.name === "web")!.restarts;
  const quiet = await ch.postRestore({ restartServices: false });
  assert.equal(quiet.signalled_init, false);
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal((await ch.services()).find((s) => s.name === "web")!.restarts, counted);
  await assert.rejects(ch.postRestore({ entropy: new Uint8Array(8) }), /16 to 4096 bytes/);
  await assert.rejects(
    ch.postRestore({ identity: { hostnameSuffix: "Bad Suffix!" } }),
    (e: Error) => /hostname_suffix/.test(e.message) && /bad_request/.test(e.message),
  );
});

test("post-restore network is applied by the guest's own ip: the page answers at the new address", async () => {
  // slirp forwards the host port to 10.0.2.15 and routes through 10.0.2.2: re-applying that address
  // (flush, add, replace the default route) must leave the guest reachable on it.
  const r = await ch.postRestore({
    restartServices: false,
    network: { iface: "eth0", address: "10.0.2.15/24", gateway: "10.0.2.2" },
  });
  assert.deepEqual(r.network, { iface: "eth0", address: "10.0.2.15/24", gateway: "10.0.2.2" });
  assert.equal((await httpGet(vm.ports.get(8080)!)).status, 200);
  // A device the guest does not have: the real ip fails and the step is named.
  await assert.rejects(
    ch.postRestore({ restartServices: false, network: { iface: "eth9", address: "10.9.0.2/30" } }),
    (e: Error) => /network_failed/.test(e.message) && /ip addr flush failed/.test(e.message),
  );
  assert.equal((await httpGet(vm.ports.get(8080)!)).status, 200);
});

test("shutdown stops the services and powers the VM off", async () => {
  await ch.shutdown();
  const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r("timeout"), 60_000))]);
  assert.notEqual(code, "timeout", `QEMU still running; console:\n${vm.console().slice(-2000)}`);
  assert.match(vm.console(), /\[init\] stopping services/);
  assert.match(vm.console(), /\[init\] stopped/);
});
