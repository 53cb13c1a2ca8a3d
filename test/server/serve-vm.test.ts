import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ExecFrame, Mvm, MvmError } from "../../src/sdk/index.js";
import { cliFor, readJson } from "../helpers/scratch.js";
import { pidAlive } from "../../src/host/process.js";
import { QmpClient } from "../../src/hypervisor/qemu/qmp.js";
import { tempDir } from "../helpers/cli.js";
import { errorCode, http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { freePort } from "../helpers/qemu-boot.js";
import { waitFor } from "../helpers/wait.js";
import { processesMentioning } from "../hypervisor/firecracker/helpers.js";

// The daemon on QEMU (TCG), driven only through the SDK and plain HTTP: one template is built and
// snapshotted, and two sandboxes are restored from it for the whole file.

/** The parent pid of `pid`, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

describe("mvmctl serve with VMs", () => {
  const root = tempDir("mvm-serve-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const keyFile = join(root, "api.key");
  const apiKey = `k-${randomBytes(16).toString("hex")}`;
  const cli = cliFor(data, { MVM_QEMU_ACCEL: "tcg" });
  let daemon: TestDaemon;
  const others: TestDaemon[] = [];

  const lsNames = async () => {
    const r = await cli(["ls", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { name: string }[]).map((v) => v.name);
  };

  before(async () => {
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    mkdirSync(proj);
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
    const steps = [
      ["template", "init", "box", "--local", "--offline", "--preset", "http", "--dir", proj],
      ["template", "create", "box", "--flake", join(proj, "box"), "--mem", "512", "--cpus", "1"],
      ["template", "build", "box", "--snapshot"],
    ];
    for (const s of steps) {
      const r = await cli(s);
      assert.equal(r.code, 0, r.stderr);
    }
    daemon = await startTestDaemon(data, ["--listen", "127.0.0.1:0", "--api-key-file", keyFile]);
  });

  after(async () => {
    for (const d of [daemon, ...others]) await d?.stop();
    await cli(["down", "--all"]);
    await rm(root, { recursive: true, force: true });
  });

  test("the unix socket is private to its user, and the key given is the one required", () => {
    assert.equal(statSync(daemon.socket).mode & 0o777, 0o600);
    assert.equal(daemon.apiKey, undefined, "a key read from --api-key-file is never printed");
  });

  test("SDK over the unix socket: start from the snapshot, exec, files, labels, await using", async () => {
    const mvm = new Mvm({ socket: daemon.socket });
    const templates = await mvm.templates.list();
    assert.deepEqual(
      templates.map((t) => [t.name, t.status, t.snapshot]),
      [["box", "ready", true]],
    );
    {
      await using vm = await mvm.start("box", {
        name: "sb1",
        env: { GREETING: "hi there" },
        labels: { team: "a" },
      });
      assert.equal(vm.info.mode, "restore");
      assert.equal(vm.info.state, "running");
      assert.ok((await lsNames()).includes("sb1"), "a VM of the daemon is an ordinary VM");

      const r = await vm.exec(["sh", "-c", 'echo "$GREETING"; echo oops >&2; cat; exit 3'], {
        stdin: "in\n",
      });
      assert.equal(r.exit_code, 3);
      assert.equal(r.stdout, "hi there\nin\n");
      assert.equal(r.stderr, "oops\n");

      const frames: ExecFrame[] = [];
      for await (const f of vm.execStream(["sh", "-c", "echo one; echo two >&2"])) frames.push(f);
      const text = (t: string) =>
        frames
          .filter((f) => f.type === t)
          .map((f) => (f as { data: Buffer }).data.toString())
          .join("");
      assert.equal(text("stdout"), "one\n");
      assert.equal(text("stderr"), "two\n");
      assert.deepEqual(frames.at(-1), {
        type: "exit",
        exit_code: 0,
        signal: null,
        timed_out: false,
        pid: frames[0]?.type === "start" ? frames[0].pid : -1,
      });

      const payload = randomBytes(700 * 1024);
      assert.equal(
        await vm.files.write("/tmp/up/load.bin", payload, { parents: true, mode: 0o640 }),
        payload.length,
      );
      assert.ok((await vm.files.read("/tmp/up/load.bin")).equals(payload));
      const st = await vm.files.stat("/tmp/up/load.bin");
      assert.equal(st.size, payload.length);
      assert.equal(st.mode, 0o640);
      assert.deepEqual(
        (await vm.files.list("/tmp/up")).map((e) => [e.path, e.kind]),
        [["load.bin", "file"]],
      );
      await vm.files.remove("/tmp/up", { recursive: true });
      await assert.rejects(vm.files.stat("/tmp/up/load.bin"), (e: unknown) => {
        assert.ok(e instanceof MvmError);
        assert.equal(e.code, "guest_not_found");
        assert.equal(e.status, 404);
        return true;
      });

      assert.deepEqual(
        (await mvm.list({ labels: { team: "a" } })).map((s) => s.name),
        ["sb1"],
      );
      assert.deepEqual(await mvm.list({ labels: { team: "b" } }), []);
    }
    // Leaving the block stopped it.
    await assert.rejects(mvm.get("sb1"), (e: unknown) => e instanceof MvmError && e.code === "vm_not_found");
    assert.ok(!(await lsNames()).includes("sb1"));
  });

  test("TCP: refused without the key or with a wrong one; plain HTTP and the SDK with it", async () => {
    const port = daemon.port as number;
    const none = await http({ port }, "GET", "/v1/vms");
    assert.equal(none.status, 401);
    assert.equal(errorCode(none), "unauthorized");
    const wrong = await http({ port }, "POST", "/v1/vms", {
      json: { template: "box" },
      headers: { authorization: `Bearer ${apiKey}x` },
    });
    assert.equal(wrong.status, 401);
    assert.equal((await http({ port }, "GET", "/v1/health")).status, 200);
    const auth = { authorization: `Bearer ${apiKey}` };
    const created = await http({ port }, "POST", "/v1/vms", {
      json: { template: "box", name: "sb2", ttl_ms: 3_600_000, labels: { role: "keep" } },
      headers: auth,
    });
    assert.equal(created.status, 201, created.body.toString());
    assert.equal(created.json().name, "sb2");
    const sdk = new Mvm({ url: `http://127.0.0.1:${port}`, apiKey });
    const vm = await sdk.get("sb2");
    assert.equal((await vm.exec(["hostname"])).stdout, "sb2\n");
    await assert.rejects(
      new Mvm({ url: `http://127.0.0.1:${port}`, apiKey: "nope-nope-nope-nope" }).get("sb2"),
      (e: unknown) => e instanceof MvmError && e.code === "unauthorized" && e.status === 401,
    );
  });

  test("limits on VMs and memory are answered 429 and 507 before anything boots", async () => {
    // sb2 (512 MiB) is running.
    const one = await startTestDaemon(data, ["--socket", join(root, "one.sock"), "--max-vms", "1"]);
    others.push(one);
    const r429 = await http({ socket: one.socket }, "POST", "/v1/vms", {
      json: { template: "box", name: "no1" },
    });
    assert.equal(r429.status, 429);
    assert.equal(errorCode(r429), "too_many_vms");
    const small = await startTestDaemon(data, ["--socket", join(root, "mem.sock"), "--max-memory", "768M"]);
    others.push(small);
    const r507 = await http({ socket: small.socket }, "POST", "/v1/vms", {
      json: { template: "box", name: "no2" },
    });
    assert.equal(r507.status, 507);
    assert.equal(errorCode(r507), "insufficient_memory");
    assert.deepEqual(await lsNames(), ["sb2"]);
    const host = (await http({ socket: small.socket }, "GET", "/v1/host")).json();
    assert.deepEqual(host.used, { vms: 1, mem_mib: 512 });
    assert.deepEqual(host.capacity, { max_vms: 64, max_mem_mib: 768 });
  });

  test("pause and resume on QEMU: QMP stop and cont, state in the API, exec refused while paused", async () => {
    // sb2 is running.
    const qmpStatus = async () => {
      const q = await QmpClient.connect(join(data, "vms", "sb2", "qmp.sock"), 10_000);
      try {
        return (await q.execute<{ status: string }>("query-status")).status;
      } finally {
        q.close();
      }
    };
    const to = { socket: daemon.socket };
    const paused = await http(to, "POST", "/v1/vms/sb2/pause");
    assert.equal(paused.status, 200, paused.body.toString());
    assert.equal(paused.json().state, "paused");
    assert.equal(await qmpStatus(), "paused");
    assert.equal((await http(to, "GET", "/v1/vms/sb2")).json().state, "paused");
    const refused = await http(to, "POST", "/v1/vms/sb2/exec", { json: { argv: ["true"] } });
    assert.equal(refused.status, 409);
    assert.equal(errorCode(refused), "vm_paused");
    const vm = await new Mvm({ socket: daemon.socket }).get("sb2");
    assert.equal((await vm.resume()).state, "running");
    assert.equal(await qmpStatus(), "running");
    assert.equal((await vm.exec(["echo", "awake"])).stdout, "awake\n");
  });

  test("the daemon keeps its VMs itself: QEMU is its child and no other process runs for the VM", async () => {
    // sb2 is running.
    const dir = join(data, "vms", "sb2");
    const qemu = readJson<{ pid: number; keeper_pid: number }>(join(dir, "qemu.json"));
    assert.equal(parentOf(qemu.pid), daemon.child.pid, "QEMU's parent is the daemon");
    assert.equal(qemu.keeper_pid, 0, "no keeper process is recorded");
    const forVm = processesMentioning(dir).filter((pid) => pid !== qemu.pid);
    assert.deepEqual(forVm, [], "nothing but QEMU names the VM's directory");
    const ran = await http({ socket: daemon.socket }, "POST", "/v1/vms/sb2/exec", {
      json: { argv: ["sh", "-c", "echo kept-console-mark > /dev/ttyS0"] },
    });
    assert.equal(ran.json().exit_code, 0, ran.body.toString());
    await waitFor("the guest's console line in console.log", async () =>
      readFileSync(join(dir, "console.log"), "utf8").includes("kept-console-mark"),
    );
  });

  test("a daemon killed with SIGKILL: its VMs run on, and the next daemon serves them again", async () => {
    const dir = join(data, "vms", "sb2");
    const qemuPid = readJson<{ pid: number }>(join(dir, "qemu.json")).pid;
    daemon.child.kill("SIGKILL");
    await daemon.stop();
    assert.ok(pidAlive(qemuPid), "the VM outlives its daemon");
    const direct = await cli(["exec", "--no-daemon", "sb2", "--", "true"]);
    assert.equal(direct.code, 1);
    assert.match(
      direct.stderr,
      /^error: VM sb2 is kept by a daemon \('mvmctl serve'\) that is not running$/m,
    );
    daemon = await startTestDaemon(data, ["--listen", "127.0.0.1:0", "--api-key-file", keyFile]);
    const ran = await http({ socket: daemon.socket }, "POST", "/v1/vms/sb2/exec", {
      json: { argv: ["sh", "-c", "echo after-restart > /dev/ttyS0; echo still here"] },
    });
    assert.equal(ran.json().stdout, "still here\n", ran.body.toString());
    await waitFor("the console to be read again after the restart", async () =>
      readFileSync(join(dir, "console.log"), "utf8").includes("after-restart"),
    );
    assert.equal((await cli(["exec", "sb2", "--", "echo", "via cli"])).stdout, "via cli\n");
  });

  test("a start cut short by the daemon's death is stopped by the next daemon", async () => {
    const dir = join(data, "vms", "sb4");
    const creating = http({ socket: daemon.socket }, "POST", "/v1/vms", {
      json: { template: "box", name: "sb4" },
    }).catch((e: Error) => e);
    await waitFor("sb4's hypervisor to be spawned", async () => existsSync(join(dir, "keeper.json")), 60_000);
    daemon.child.kill("SIGKILL");
    await daemon.stop();
    assert.ok((await creating) instanceof Error, "the create request died with its daemon");
    const qemuPid = readJson<{ pid: number }>(join(dir, "keeper.json")).pid;
    assert.ok(pidAlive(qemuPid));
    daemon = await startTestDaemon(data, ["--listen", "127.0.0.1:0", "--api-key-file", keyFile]);
    await waitFor("the half-started VM to be stopped", async () => !pidAlive(qemuPid), 10_000);
    assert.ok(!existsSync(dir), "and its directory removed");
    assert.deepEqual(await lsNames(), ["sb2"], "the VM it had handed over is kept");
  });

  test("a restarted daemon re-attaches to its running VM and still enforces its TTL", async () => {
    assert.equal(await daemon.stop(), 0);
    assert.ok(!existsSync(daemon.socket), "the socket is removed on exit");
    assert.deepEqual(await lsNames(), ["sb2"], "VMs stay running without --stop-vms-on-exit");
    daemon = await startTestDaemon(data, ["--listen", "127.0.0.1:0", "--api-key-file", keyFile]);
    const to = { socket: daemon.socket };
    const got = await http(to, "GET", "/v1/vms/sb2");
    assert.equal(got.status, 200);
    assert.deepEqual(got.json().labels, { role: "keep" });
    const ran = await http(to, "POST", "/v1/vms/sb2/exec", { json: { argv: ["echo", "still here"] } });
    assert.equal(ran.json().stdout, "still here\n");
    const ttl = await http(to, "PUT", "/v1/vms/sb2/ttl", { json: { ttl_ms: 1000 } });
    assert.equal(ttl.status, 200);
    await waitFor(
      "the TTL reaper to stop sb2",
      async () => (await http(to, "GET", "/v1/vms/sb2")).status === 404,
    );
    assert.deepEqual(await lsNames(), []);
    assert.ok(!existsSync(join(data, "vms", "sb2")), "its files are removed");
  });

  test("vm.url reaches a forwarded guest port; --stop-vms-on-exit stops the daemon's VMs", async () => {
    await daemon.stop();
    daemon = await startTestDaemon(data, ["--stop-vms-on-exit"]);
    const port = await freePort();
    const vm = await new Mvm({ socket: daemon.socket }).start("box", {
      name: "sb3",
      ports: [{ host: port, guest: 8080 }],
    });
    assert.equal(vm.url(8080), `http://127.0.0.1:${port}`);
    assert.equal((await fetch(vm.url(8080))).status, 200);
    assert.throws(
      () => vm.url(9999),
      (e: unknown) => e instanceof MvmError && e.code === "invalid_argument",
    );
    assert.equal(await daemon.stop(), 0);
    assert.deepEqual(await lsNames(), []);
  });
});
