import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { GuestChannel, GuestError } from "../../src/guest/channel.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { startHostAgent } from "../helpers/host-agent.js";

// The real agent binary from the kit, run on this host with --listen-unix, against the host client:
// framing, errors, timeouts, and Firecracker's vsock handshake (through a stand-in that speaks
// Firecracker's real "CONNECT <port>" / "OK <port>" protocol over a real unix socket).

const work = mkdtempSync(join(tmpdir(), "mvm-agent-"));
const sock = join(work, "agent.sock");
// Stands in for `ip` so post_restore's network change is applied to a file, not to this host: it
// records each argv (one element per line, a blank line after each call) and fails on request.
const ipBin = join(work, "ip-recorder");
const ipCalls = join(work, "ip-calls");
const ipFailOn = join(work, "ip-fail-on");
// Where the agent writes the wall clock post_restore asks for: this host's clock is not the test's to set.
const clockFile = join(work, "clock");
let agent: ChildProcess;

function writeCheck(name: string, cmd: string, interval = 1, timeout = 10): void {
  const d = join(work, "cfg", "checks", name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "cmd"), cmd);
  writeFileSync(join(d, "interval"), `${interval}\n`);
  writeFileSync(join(d, "timeout"), `${timeout}\n`);
}

before(async () => {
  const kit = await ensureTestKit();
  writeCheck("ok", "exit 0");
  writeCheck("bad", "echo 'it broke: \"x\"' >&2; exit 4");
  writeCheck("slow", "sleep 30", 1, 1);
  writeFileSync(
    ipBin,
    '#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done >>"$IP_CALLS"\necho >>"$IP_CALLS"\n' +
      '[ -f "$IP_FAIL_ON" ] && [ "$2" = "$(cat "$IP_FAIL_ON")" ] && { echo "RTNETLINK answers: nope" >&2; exit 2; }\nexit 0\n',
  );
  chmodSync(ipBin, 0o755);
  agent = startHostAgent({
    kitDir: kit.dir,
    configDir: join(work, "cfg"),
    runDir: join(work, "run"),
    socket: sock,
    extraArgs: ["--ip-bin", ipBin, "--clock-file", clockFile],
    env: { ...process.env, IP_CALLS: ipCalls, IP_FAIL_ON: ipFailOn },
  });
});

after(async () => {
  agent?.kill("SIGTERM");
  await rm(work, { recursive: true, force: true });
});

async function channel(): Promise<GuestChannel> {
  return GuestChannel.connectUnix(sock, { connectRetryMs: 5000, timeoutMs: 5000 });
}

test("ping and health: ok, failing with detail, timed out", async () => {
  const ch = await channel();
  try {
    const pong = await ch.ping();
    assert.equal(pong.protocol, 1);
    assert.match(pong.agent, /^mvm-agent /);
    const h = await ch.health({ fresh: true, timeoutMs: 10_000 });
    const by = Object.fromEntries(h.checks.map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(by).sort(), ["bad", "ok", "slow"]);
    assert.equal(by.ok?.healthy, true);
    assert.equal(by.bad?.status, "unhealthy");
    assert.equal(by.bad?.detail, 'exit code 4: it broke: "x"');
    assert.equal(by.slow?.healthy, false);
    assert.equal(by.slow?.detail, "timed out after 1s");
    assert.equal(h.ready, false);
  } finally {
    ch.close();
  }
});

function rawRequest(s: Socket, payload: Buffer): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        s.off("data", onData);
        resolve(JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString()));
      }
    };
    s.on("data", onData);
    s.write(payload);
  });
}

const frame = (body: string) => {
  const b = Buffer.from(body);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
};

test("malformed requests get typed error replies", async () => {
  const s = connect(sock);
  await new Promise((r) => s.once("connect", r));
  try {
    const bad = await rawRequest(s, frame("{not json"));
    assert.equal(bad.ok, false);
    assert.equal(bad.id, null);
    assert.equal((bad.error as { code: string }).code, "bad_json");
    const noId = await rawRequest(s, frame('{"type":"ping"}'));
    assert.equal((noId.error as { code: string }).code, "bad_request");
    const unknown = await rawRequest(s, frame('{"id":7,"type":"reboot-the-world"}'));
    assert.equal(unknown.id, 7);
    assert.equal((unknown.error as { code: string }).code, "unknown_type");
    const big = Buffer.alloc(4);
    big.writeUInt32BE(256 * 1024 + 1);
    const tooBig = await rawRequest(s, big);
    assert.equal((tooBig.error as { code: string }).code, "frame_too_large");
  } finally {
    s.destroy();
  }
  const ch = await channel();
  try {
    await assert.rejects(
      ch.request("nope"),
      (e: unknown) => e instanceof GuestError && e.code === "unknown_type",
    );
    await assert.rejects(ch.postRestore({ entropy: new Uint8Array(4) }), /16 to 4096 bytes/);
    await assert.rejects(
      ch.request("post_restore", { entropy: "!!!notbase64", identity: {} }),
      (e: unknown) => e instanceof GuestError && e.code === "bad_request",
    );
  } finally {
    ch.close();
  }
});

test("timeouts and missing sockets are clear errors", async () => {
  const silent = join(work, "silent.sock");
  const srv: Server = createServer(() => {});
  await new Promise<void>((r) => srv.listen(silent, r));
  try {
    const ch = await GuestChannel.connectUnix(silent, { timeoutMs: 300 });
    await assert.rejects(
      ch.ping(),
      (e: unknown) =>
        e instanceof MvmError &&
        e.kind === "timeout" &&
        /did not answer "ping" within 300 ms/.test(e.message),
    );
    ch.close();
  } finally {
    srv.close();
  }
  await assert.rejects(
    GuestChannel.connectUnix(join(work, "none.sock")),
    (e: unknown) => e instanceof MvmError && e.kind === "not_found",
  );
});

/** Stands in for Firecracker's vsock UDS: "CONNECT <port>\n" → "OK <n>\n", then splices to the agent. */
function fakeFirecrackerVsock(path: string, accept: boolean): Promise<Server> {
  const srv = createServer((client) => {
    let line = "";
    const onData = (d: Buffer) => {
      line += d.toString("latin1");
      const nl = line.indexOf("\n");
      if (nl < 0) return;
      client.off("data", onData);
      if (!accept || line.slice(0, nl) !== "CONNECT 52") {
        client.end();
        return;
      }
      const upstream = connect(sock, () => {
        client.write("OK 1073741824\n");
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on("error", () => client.destroy());
    };
    client.on("data", onData);
  });
  return new Promise((r) => srv.listen(path, () => r(srv)));
}

test("Firecracker vsock: CONNECT handshake, then the same protocol; a refused handshake is an error", async () => {
  const ok = await fakeFirecrackerVsock(join(work, "v.sock"), true);
  const ch = await GuestChannel.connectFirecrackerVsock(join(work, "v.sock"), 52);
  try {
    assert.equal((await ch.ping()).protocol, 1);
  } finally {
    ch.close();
    ok.close();
  }
  const refuse = await fakeFirecrackerVsock(join(work, "v2.sock"), false);
  try {
    await assert.rejects(GuestChannel.connectFirecrackerVsock(join(work, "v2.sock"), 52), /vsock handshake/);
  } finally {
    refuse.close();
  }
});

function recordedIpCalls(): string[][] {
  if (!existsSync(ipCalls)) return [];
  return readFileSync(ipCalls, "utf8")
    .split("\n\n")
    .filter((c) => c.trim() !== "")
    .map((c) => c.split("\n").filter((l) => l !== ""));
}

test("post_restore network: the new address is applied with ip, argv only, in order", async () => {
  rmSync(ipCalls, { force: true });
  const ch = await channel();
  try {
    const r = await ch.postRestore({
      restartServices: false,
      network: { iface: "eth0", address: "10.213.0.6/30", gateway: "10.213.0.5" },
    });
    assert.deepEqual(r.network, { iface: "eth0", address: "10.213.0.6/30", gateway: "10.213.0.5" });
    assert.deepEqual(recordedIpCalls(), [
      ["addr", "flush", "dev", "eth0"],
      ["addr", "add", "10.213.0.6/30", "dev", "eth0"],
      ["route", "replace", "default", "via", "10.213.0.5", "dev", "eth0"],
    ]);
    // No gateway: the address only, the routes are left alone.
    rmSync(ipCalls, { force: true });
    const noGw = await ch.postRestore({
      restartServices: false,
      network: { iface: "eth1", address: "192.168.7.9/24" },
    });
    assert.deepEqual(noGw.network, { iface: "eth1", address: "192.168.7.9/24", gateway: null });
    assert.deepEqual(recordedIpCalls(), [
      ["addr", "flush", "dev", "eth1"],
      ["addr", "add", "192.168.7.9/24", "dev", "eth1"],
    ]);
    // Without network nothing is run and the reply says so.
    rmSync(ipCalls, { force: true });
    const none = await ch.postRestore({ restartServices: false });
    assert.equal(none.network, null);
    assert.deepEqual(recordedIpCalls(), []);
  } finally {
    ch.close();
  }
});

test("post_restore network: malformed fields are refused before anything runs", async () => {
  rmSync(ipCalls, { force: true });
  const ch = await channel();
  const entropy = Buffer.alloc(16, 7).toString("base64");
  const bad: [unknown, RegExp][] = [
    ["eth0", /network must be an object/],
    [{ iface: "eth0; reboot", address: "10.0.0.2/30", gateway: "10.0.0.1" }, /network\.iface/],
    [{ iface: "-eth0", address: "10.0.0.2/30" }, /network\.iface/],
    [{ iface: "averyveryverylongname", address: "10.0.0.2/30" }, /network\.iface/],
    [{ iface: "eth0\u0000x", address: "10.0.0.2/30" }, /network\.iface/],
    [{ address: "10.0.0.2/30" }, /network\.iface/],
    [{ iface: "eth0", address: "10.0.0.2" }, /network\.address/],
    [{ iface: "eth0", address: "10.0.0.256/30" }, /network\.address/],
    [{ iface: "eth0", address: "10.0.0.02/30" }, /network\.address/],
    [{ iface: "eth0", address: "10.0.0/30" }, /network\.address/],
    [{ iface: "eth0", address: " 10.0.0.2/30" }, /network\.address/],
    [{ iface: "eth0", address: "10.0.0.2/33" }, /prefix length must be 1 to 32/],
    [{ iface: "eth0", address: "10.0.0.2/0" }, /prefix length must be 1 to 32/],
    [{ iface: "eth0", address: "10.0.0.2/030" }, /network\.address/],
    [{ iface: "eth0", address: 1 }, /network\.address/],
    [
      { iface: "eth0", address: "10.0.0.2/30", gateway: "10.0.0.1 dev lo" },
      /network\.gateway must be an IPv4/,
    ],
    [{ iface: "eth0", address: "10.0.0.2/30", gateway: "10.0.0.9" }, /in network\.address's subnet/],
    [{ iface: "eth0", address: "10.0.0.2/30", gateway: "10.0.0.2" }, /in network\.address's subnet/],
    [{ iface: "eth0", address: "10.0.0.2/30", mac: "06:00:00:00:00:01" }, /only iface, address and gateway/],
  ];
  try {
    for (const [network, why] of bad) {
      await assert.rejects(
        ch.request("post_restore", {
          entropy,
          identity: { hostname_suffix: "zz" },
          restart_services: false,
          network,
        }),
        (e: unknown) => e instanceof GuestError && e.code === "bad_request" && why.test(e.message),
        JSON.stringify(network),
      );
    }
    assert.deepEqual(recordedIpCalls(), [], "no ip command ran for a refused request");
    // A refused request changed nothing else either: the hostname has no "-zz" suffix.
    const pong = await ch.ping();
    assert.doesNotMatch(pong.hostname, /-zz$/);
  } finally {
    ch.close();
  }
});

test("post_restore network: a failing ip command is reported with the step that failed", async () => {
  rmSync(ipCalls, { force: true });
  writeFileSync(ipFailOn, "add");
  const ch = await channel();
  try {
    await assert.rejects(
      ch.postRestore({
        restartServices: false,
        network: { iface: "eth0", address: "10.213.0.6/30", gateway: "10.213.0.5" },
      }),
      (e: unknown) =>
        e instanceof GuestError &&
        e.code === "network_failed" &&
        /ip addr add failed: exit code 2/.test(e.message),
    );
    // It stopped at the failing step: no route was replaced.
    assert.deepEqual(
      recordedIpCalls().map((c) => c.slice(0, 2)),
      [
        ["addr", "flush"],
        ["addr", "add"],
      ],
    );
  } finally {
    rmSync(ipFailOn, { force: true });
    ch.close();
  }
});

test("post_restore wall_clock_ms: the guest clock is stepped to the host's, malformed values change nothing", async () => {
  rmSync(clockFile, { force: true });
  const ch = await channel();
  try {
    // Without a clock nothing is set and the reply says so.
    const none = await ch.postRestore({ restartServices: false });
    assert.equal(none.clock_step_ms, null);
    assert.equal(existsSync(clockFile), false);
    // A clock an hour ahead: stepped by about an hour.
    const target = Date.now() + 3_600_000;
    const r = await ch.postRestore({ restartServices: false, wallClockMs: target });
    assert.equal(readFileSync(clockFile, "utf8"), `${target}\n`);
    assert.ok(
      r.clock_step_ms !== null && Math.abs(r.clock_step_ms - 3_600_000) < 60_000,
      `step ${r.clock_step_ms}`,
    );
    rmSync(clockFile);
    const entropy = Buffer.alloc(16, 7).toString("base64");
    for (const bad of ["1796035200000", 1796035200000.5, -1, 0, 1e15, true, {}])
      await assert.rejects(
        ch.request("post_restore", { entropy, restart_services: false, wall_clock_ms: bad }),
        (e: unknown) =>
          e instanceof GuestError && e.code === "bad_request" && /wall_clock_ms must be/.test(e.message),
        JSON.stringify(bad),
      );
    assert.equal(existsSync(clockFile), false, "no refused request set the clock");
  } finally {
    ch.close();
  }
});
