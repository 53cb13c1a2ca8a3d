// The daemon as a platform, on Firecracker's wire-level fake (a real process per VM serving the
// Firecracker API, whose vsock leads to the real guest agent run on this host): the event stream,
// pause and resume, exec with streamed standard input, template pulls, the CLI going through the
// daemon, and the SDK without a daemon. Driven through the SDK and plain HTTP only.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type HostEvent, Mvm, MvmError } from "../../src/sdk/index.js";
import { DataPaths } from "../../src/store/paths.js";
import { runCli } from "../helpers/cli.js";
import { errorCode, http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { startHostAgent } from "../helpers/host-agent.js";
import { FAKE_SCRIPT, fixture, kvmAccessible, templateOfFixture } from "../hypervisor/firecracker/helpers.js";

const skip = kvmAccessible()
  ? false
  : "needs a readable and writable /dev/kvm (the fake is probed like Firecracker)";

const fx = fixture();
const data = fx.paths.root;
const agentSock = join(fx.root, "agent.sock");
const fcEnv = {
  MVM_FIRECRACKER_BIN: fx.bin,
  MVM_FIRECRACKER_NETWORK: "none",
  FAKE_FC_NODE: process.execPath,
  FAKE_FC_SCRIPT: FAKE_SCRIPT,
  FAKE_FC_LOG: fx.log,
  FAKE_FC_GUEST_AGENT: agentSock,
};

/** Events of a stream, collected in the background; `until` waits for one that matches. */
function collect(stream: AsyncIterable<HostEvent>) {
  const seen: HostEvent[] = [];
  let wake: () => void = () => {};
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const e of stream) {
        seen.push(e);
        wake();
      }
    } catch (e) {
      failure = e;
      wake();
    }
  })();
  return {
    seen,
    done,
    failure: () => failure,
    async until(what: string, match: (e: HostEvent) => boolean, limitMs = 60_000): Promise<HostEvent> {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const hit = seen.find(match);
        if (hit) return hit;
        if (failure) throw failure;
        if (Date.now() > deadline)
          assert.fail(`no event: ${what}; saw ${JSON.stringify(seen.map((e) => e.type))}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 250);
        });
      }
    },
  };
}

const ofVm = (vm: string) => (e: HostEvent) => e.vm === vm;

describe("mvmctl serve as a platform (Firecracker fake)", { skip }, () => {
  let daemon: TestDaemon;
  let agent: ChildProcess | undefined;
  const cli = (args: string[], input?: string) =>
    runCli(args, { dataDir: data, env: fcEnv, timeoutMs: 90_000, ...(input !== undefined ? { input } : {}) });

  before(async () => {
    const kit = await ensureTestKit();
    agent = startHostAgent({
      kitDir: kit.dir,
      configDir: join(fx.root, "agent-cfg"),
      runDir: join(fx.root, "agent-run"),
      socket: agentSock,
    });
    await templateOfFixture(fx, fx.paths, "fcbox");
    daemon = await startTestDaemon(data, ["--hypervisor", "firecracker", "--listen", "127.0.0.1:0"], fcEnv);
  });

  after(async () => {
    await daemon?.stop();
    await cli(["down", "--all", "--no-daemon"]).catch(() => {});
    agent?.kill("SIGTERM");
    rmSync(fx.root, { recursive: true, force: true });
  });

  test("events: a VM's created, ready and killed through the SDK; a type filter over plain HTTP", async () => {
    const mvm = new Mvm({ socket: daemon.socket });
    const stream = mvm.events();
    await stream.opened;
    const all = collect(stream);
    const raw: string[] = [];
    const rawReq = request({
      host: "127.0.0.1",
      port: daemon.port,
      path: "/v1/events?type=vm.killed",
      headers: { authorization: `Bearer ${daemon.apiKey}` },
    });
    const rawOpen = new Promise<void>((resolve) => {
      rawReq.on("response", (res) => {
        assert.equal(res.headers["content-type"], "application/x-ndjson");
        res.setEncoding("utf8");
        let buf = "";
        res.on("data", (d: string) => {
          buf += d;
          const lines = buf.split("\n");
          buf = lines.pop() ?? "";
          raw.push(...lines.filter(Boolean));
          if (raw.length > 0) resolve();
        });
      });
    });
    rawReq.end();
    await rawOpen;
    assert.deepEqual(JSON.parse(raw[0] as string), { type: "subscribed" });

    const vm = await mvm.start("fcbox", { name: "ev1", labels: { t: "events" } });
    await vm.stop();
    await all.until("ev1 killed", (e) => e.vm === "ev1" && e.type === "vm.killed");
    assert.deepEqual(
      all.seen.filter(ofVm("ev1")).map((e) => e.type),
      ["vm.created", "vm.ready", "vm.killed"],
    );
    const ready = all.seen.find((e) => e.type === "vm.ready") as HostEvent;
    assert.equal(ready.template, "fcbox");
    assert.equal(typeof ready.ready_ms, "number");
    const ids = all.seen.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      "ids increase",
    );

    const deadline = Date.now() + 10_000;
    while (raw.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const filtered = raw.slice(1).map((l) => JSON.parse(l) as HostEvent);
    assert.deepEqual(
      filtered.map((e) => [e.type, e.vm]),
      [["vm.killed", "ev1"]],
    );
    rawReq.destroy();

    const bad = await http({ socket: daemon.socket }, "GET", "/v1/events?type=vm.bogus");
    assert.equal(bad.status, 400);
    assert.equal(errorCode(bad), "invalid_request");

    stream.close();
    await all.done;
    assert.equal(all.failure(), undefined, "closing ends the iteration without an error");
  });

  test("pause and resume: PATCH /vm on Firecracker, state in /v1/vms, exec refused while paused", async () => {
    const mvm = new Mvm({ socket: daemon.socket });
    const stream = mvm.events({ types: ["vm.paused", "vm.resumed"] });
    await stream.opened;
    const evs = collect(stream);
    await using vm = await mvm.start("fcbox", { name: "pz1" });
    assert.equal(vm.info.state, "running");
    assert.equal((await vm.pause()).state, "paused");
    const patches = () =>
      fx
        .requests()
        .filter((r) => r.method === "PATCH" && r.path === "/vm")
        .map((r) => r.body?.state);
    assert.deepEqual(patches(), ["Paused"]);
    const got = await http({ socket: daemon.socket }, "GET", "/v1/vms/pz1");
    assert.equal(got.json().state, "paused");
    const ls = await cli(["ls", "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(
      (JSON.parse(ls.stdout) as { name: string; state: string }[]).find((v) => v.name === "pz1")?.state,
      "paused",
    );
    await assert.rejects(vm.exec(["true"]), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.equal(e.code, "vm_paused");
      assert.equal(e.status, 409);
      return true;
    });
    assert.equal((await vm.resume()).state, "running");
    assert.deepEqual(patches(), ["Paused", "Resumed"]);
    assert.equal((await vm.exec(["echo", "back"])).stdout, "back\n");
    await evs.until("resumed", (e) => e.type === "vm.resumed");
    assert.deepEqual(
      evs.seen.map((e) => [e.type, e.vm]),
      [
        ["vm.paused", "pz1"],
        ["vm.resumed", "pz1"],
      ],
    );
    stream.close();

    const missing = await http({ socket: daemon.socket }, "POST", "/v1/vms/nope/pause");
    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing), "vm_not_found");
  });

  test("exec stdin streamed from an async iterable, interactively; plain HTTP NDJSON requests", async () => {
    const mvm = new Mvm({ url: `http://127.0.0.1:${daemon.port}`, apiKey: daemon.apiKey as string });
    await using vm = await mvm.start("fcbox", { name: "io1" });
    async function* parts() {
      yield "alpha ";
      yield Buffer.from("beta\n");
      yield new Uint8Array(600 * 1024).fill(0x61);
    }
    const r = await vm.exec(["sh", "-c", "head -c 11; wc -c"], { stdin: parts() });
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout, `alpha beta\n${600 * 1024}\n`);

    // The second line is only produced once the command has answered the first: input that waited
    // for the end of the request would never get an answer.
    let out = "";
    let heard: () => void = () => {};
    async function* dialogue() {
      yield "one\n";
      const deadline = Date.now() + 60_000;
      while (!out.includes("got:one")) {
        if (Date.now() > deadline) throw new Error("the first line was not answered before input ended");
        await new Promise<void>((resolve) => {
          heard = resolve;
          setTimeout(resolve, 500);
        });
      }
      yield "two\n";
    }
    for await (const f of vm.execStream(["sh", "-c", 'while read l; do echo "got:$l"; done'], {
      stdin: dialogue(),
    })) {
      if (f.type === "stdout") {
        out += f.data.toString();
        heard();
      }
    }
    assert.equal(out, "got:one\ngot:two\n");

    const to = { socket: daemon.socket };
    const nd = { "content-type": "application/x-ndjson" };
    const ok = await http(to, "POST", "/v1/vms/io1/exec", {
      raw: `${JSON.stringify({ argv: ["cat"] })}\n{"stdin":"${Buffer.from("hi").toString("base64")}"}\n{"eof":true}\n`,
      headers: nd,
    });
    assert.equal(ok.status, 200, ok.body.toString());
    assert.equal(ok.json().stdout, "hi");
    for (const [body, message] of [
      [`${JSON.stringify({ argv: ["cat"] })}\n{"stdin":5}\n`, /line 2 of the exec request/],
      [`${JSON.stringify({ argv: ["cat"], stdin: "x" })}\n`, /not in the first line/],
      ["not json\n", /first line of the exec request is not valid JSON/],
    ] as const) {
      const r2 = await http(to, "POST", "/v1/vms/io1/exec", { raw: body, headers: nd });
      assert.equal(r2.status, 400, r2.body.toString());
      assert.match(String((r2.json().error as { message: string }).message), message);
    }
  });

  test("TTL expiry and a VM that ends on its own are published as events", async () => {
    const mvm = new Mvm({ socket: daemon.socket });
    const stream = mvm.events({ types: ["vm.expired", "vm.exited"] });
    await stream.opened;
    const evs = collect(stream);
    await mvm.start("fcbox", { name: "tt1", ttlMs: 1000 });
    const gone = await mvm.start("fcbox", { name: "ex1" });
    process.kill(gone.info.pid, "SIGKILL");
    await evs.until("tt1 expired", (e) => e.vm === "tt1" && e.type === "vm.expired");
    const exited = await evs.until("ex1 exited", (e) => e.vm === "ex1" && e.type === "vm.exited");
    assert.equal(exited.reason, "process_ended");
    assert.equal(
      evs.seen.filter((e) => e.vm === "tt1").length,
      1,
      "a VM stopped by its TTL is expired, not also exited",
    );
    stream.close();
  });

  test("the CLI goes through the running daemon (up -d, ls, exec, down); --no-daemon works directly", async () => {
    const stream = new Mvm({ socket: daemon.socket }).events({ types: ["vm.created", "vm.killed"] });
    await stream.opened;
    const evs = collect(stream);
    const up = await cli(["up", "fcbox", "-d", "--name", "cli1", "--json", "--timings"]);
    assert.equal(up.code, 0, up.stderr);
    const upJson = JSON.parse(up.stdout) as {
      name: string;
      timings: { phase: string; ms: number }[];
      timings_total_ms: number;
    };
    assert.equal(upJson.name, "cli1");
    // --timings through the daemon: this process's phases, the daemon's, then the request's own cost.
    const phases = upJson.timings.map((t) => t.phase);
    assert.deepEqual(phases.slice(0, 3), ["cli_load", "template_resolve", "admission"]);
    assert.deepEqual(phases.slice(-2), ["detach", "api_request"]);
    for (const p of ["vmm_spawn", "readiness", "ready_record"]) assert.ok(phases.includes(p), p);
    const sum = upJson.timings.reduce((a, t) => a + t.ms, 0);
    assert.ok(Math.abs(sum - upJson.timings_total_ms) < 0.01, "the phases add up to the total");
    await evs.until("cli1 created by the daemon", (e) => e.vm === "cli1" && e.type === "vm.created");
    assert.ok(existsSync(join(data, "vms", "cli1", "api.json")), "the daemon started it");
    const ex = await cli(["exec", "cli1", "--", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert.equal(ex.code, 4);
    assert.equal(ex.stdout, "out\n");
    assert.equal(ex.stderr, "err\n");
    const piped = await cli(["exec", "-i", "cli1", "--", "cat"], "piped through the daemon\n");
    assert.equal(piped.stdout, "piped through the daemon\n");
    const ls = await cli(["ls", "--json"]);
    const row = (JSON.parse(ls.stdout) as { name: string; labels?: unknown }[]).find(
      (v) => v.name === "cli1",
    );
    assert.deepEqual(row?.labels, {}, "ls shows the daemon's view");
    const missing = await cli(["exec", "nope", "--", "true"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no VM named nope/);
    const down = await cli(["down", "cli1"]);
    assert.equal(down.code, 0, down.stderr);
    await evs.until("cli1 killed by the daemon", (e) => e.vm === "cli1" && e.type === "vm.killed");

    const direct = await cli(["up", "fcbox", "-d", "--name", "cli2", "--no-daemon", "--json"]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.ok(!existsSync(join(data, "vms", "cli2", "api.json")), "--no-daemon started it directly");
    const lsDirect = await cli(["ls", "--json", "--no-daemon"]);
    const r2 = (JSON.parse(lsDirect.stdout) as { name: string; labels?: unknown }[]).find(
      (v) => v.name === "cli2",
    );
    assert.equal(r2?.labels, undefined);
    assert.equal((await cli(["down", "cli2", "--no-daemon"])).code, 0);
    assert.ok(!evs.seen.some((e) => e.vm === "cli2"), "the daemon was not asked");
    stream.close();
  });

  test("templates pull over the API from the daemon's registry, with progress events; file:// refused", async () => {
    await templateOfFixture(fx, fx.paths, "fcpull");
    assert.equal((await cli(["template", "push", "fcpull"])).code, 0);
    assert.equal((await cli(["template", "delete", "fcpull", "--yes"])).code, 0);
    const mvm = new Mvm({ socket: daemon.socket });
    const stream = mvm.events({
      types: ["template.pull.started", "template.pull.progress", "template.pull.done"],
    });
    await stream.opened;
    const evs = collect(stream);
    const pulled = await mvm.templates.pull("fcpull");
    assert.equal(pulled.template, "fcpull");
    assert.equal(pulled.revision, "0123456789abcdefghijklmnopqrstuv");
    assert.equal(pulled.already_present, false);
    assert.equal((await mvm.templates.get("fcpull")).status, "ready");
    await evs.until("pull done", (e) => e.type === "template.pull.done");
    const types = evs.seen.map((e) => e.type);
    assert.equal(types[0], "template.pull.started");
    assert.ok(types.includes("template.pull.progress"));
    const last = evs.seen.filter((e) => e.type === "template.pull.progress").at(-1) as HostEvent;
    assert.equal(last.bytes, last.total_bytes);
    stream.close();

    const to = { socket: daemon.socket };
    for (const [json, code, message] of [
      [
        { template: "fcpull", registry: `file://${fx.root}` },
        "invalid_request",
        /file:\/\/ registry cannot be named/,
      ],
      [{ template: "../x" }, "invalid_request", /invalid template name/],
      [{ template: "fcpull", registry: "oci://user:pw@127.0.0.1:1/x" }, "invalid_request", /credentials/],
      [{ template: "fcpull", mirror: "x" }, "invalid_request", /unknown field "mirror"/],
    ] as const) {
      const r = await http(to, "POST", "/v1/templates/pull", { json });
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(errorCode(r), code);
      assert.match(String((r.json().error as { message: string }).message), message);
      assert.ok(!r.body.toString().includes("pw@"), "credentials are not echoed");
    }
  });

  test("in-process SDK: no daemon, the same API in this process; close({ stopVms }) stops its VMs", async () => {
    const paths2 = new DataPaths(join(fx.root, "data2"));
    await templateOfFixture(fx, paths2, "fcbox");
    const saved = { ...process.env };
    Object.assign(process.env, fcEnv);
    try {
      const mvm = new Mvm({ dataDir: paths2.root, hypervisor: "firecracker" });
      const stream = mvm.events({ types: ["vm.ready"] });
      await stream.opened;
      const evs = collect(stream);
      assert.deepEqual(
        (await mvm.templates.list()).map((t) => t.name),
        ["fcbox"],
      );
      const vm = await mvm.start("fcbox", { name: "ip1" });
      assert.equal((await vm.exec(["echo", "local"])).stdout, "local\n");
      await evs.until("ip1 ready", (e) => e.vm === "ip1");
      assert.ok(existsSync(paths2.vm("ip1")));
      await mvm.close({ stopVms: true });
      assert.ok(!existsSync(paths2.vm("ip1")), "its VM was stopped and removed");
      await assert.rejects(
        mvm.host(),
        (e: unknown) => e instanceof MvmError && e.code === "connection_failed",
      );
    } finally {
      for (const k of Object.keys(fcEnv)) if (saved[k] === undefined) delete process.env[k];
    }
  });
});
