import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { request, type Server } from "node:http";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { VmService } from "../../src/server/vm-service.js";
import { DataPaths } from "../../src/store/paths.js";
import { TemplateStore } from "../../src/store/templates.js";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";
import { http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { basicUser, EnvdClient, startEnvdServer, startPid, stdoutOf, summarize } from "./envd-helpers.js";

// envd against one sandbox VM that a real `mvmctl serve` restored from a snapshotted template with
// the E2B user `user`, driven over HTTP exactly as E2B's SDK speaks it (Connect JSON, enveloped
// streams, Basic user header, /files with multipart and octet-stream bodies).

describe("envd served by the guest agent", () => {
  const root = tempDir("mvm-envd-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const cli = cliFor(data, { MVM_QEMU_ACCEL: "tcg" });
  let daemon: TestDaemon;
  let server: Server;
  let envd: EnvdClient;

  before(async () => {
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    mkdirSync(proj);
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    let r = await cli([
      "template",
      "init",
      "box",
      "--local",
      "--offline",
      "--preset",
      "minimal",
      "--dir",
      proj,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const flake = join(proj, "box", "flake.nix");
    const text = readFileSync(flake, "utf8");
    assert.ok(text.includes('hostname = "box";'));
    writeFileSync(flake, text.replace('hostname = "box";', 'hostname = "box";\n        users.user = { };'));
    for (const s of [
      ["template", "create", "box", "--flake", join(proj, "box"), "--mem", "256", "--cpus", "1"],
      ["template", "build", "box", "--snapshot"],
    ]) {
      r = await cli(s);
      assert.equal(r.code, 0, r.stderr);
    }
    daemon = await startTestDaemon(data);
    const created = await http({ socket: daemon.socket }, "POST", "/v1/vms", {
      json: { template: "box", name: "sb1" },
    });
    assert.equal(created.status, 201, created.body.toString());
    const paths = new DataPaths(data);
    const vms = new VmService(paths, new TemplateStore(paths), {
      hypervisor: "qemu",
      readyTimeoutMs: 120_000,
      limits: { maxVms: 4, maxMemMib: 4096 },
    });
    const s = await startEnvdServer({
      sandboxId: "isb1",
      vmName: "sb1",
      envVars: { FROM_SANDBOX: "sbx" },
      vms,
    });
    server = s.server;
    envd = new EnvdClient(s.url, "isb1");
  });

  after(async () => {
    server?.close();
    await daemon?.stop();
    await cli(["down", "--all"]);
    await rm(root, { recursive: true, force: true });
  });

  test("health, and requests without E2b-Sandbox-Id are not envd's", async () => {
    const h = await fetch(`${envd.url}/health`, { headers: envd.headers() });
    assert.equal(h.status, 204);
    const plain = await fetch(`${envd.url}/health`);
    assert.equal(plain.status, 400);
  });

  test("Start as the SDK runs commands (/bin/bash -l -c): output, exit code, env, cwd, default user", async () => {
    const ok = summarize(
      await envd
        .stream("process.Process/Start", {
          process: {
            cmd: "/bin/bash",
            args: ["-l", "-c", 'echo "$FROM_SANDBOX $MINE $BASH_VERSINFO"; pwd; id -un; echo oops >&2'],
            envs: { MINE: "mine" },
            cwd: "/tmp",
          },
          stdin: false,
        })
        .all(),
    );
    assert.ok(ok.pid && ok.pid > 1);
    assert.equal(ok.stdout, "sbx mine 5\n/tmp\nuser\n");
    assert.equal(ok.stderr, "oops\n");
    assert.deepEqual(ok.end, { exitCode: 0, exited: true, status: "exit status 0" });
    assert.equal(ok.error, undefined);

    const failed = summarize(
      await envd
        .stream(
          "process.Process/Start",
          { process: { cmd: "/bin/sh", args: ["-c", "cd; pwd; exit 3"] } },
          basicUser("root"),
        )
        .all(),
    );
    assert.equal(failed.stdout, "/root\n");
    assert.deepEqual(failed.end, {
      exitCode: 3,
      exited: true,
      status: "exit status 3",
      error: "exit status 3",
    });
  });

  test("an unknown user is refused before anything runs, never mapped to root", async () => {
    const r = summarize(
      await envd
        .stream(
          "process.Process/Start",
          { process: { cmd: "/bin/sh", args: ["-c", "touch /tmp/ran"] } },
          basicUser("nobody2"),
        )
        .all(),
    );
    assert.equal(r.pid, undefined);
    assert.equal(r.error?.code, "unauthenticated");
    assert.match(r.error?.message ?? "", /user "nobody2" does not exist in this sandbox/);
    const st = await envd.unary("filesystem.Filesystem/Stat", { path: "/tmp/ran" });
    assert.equal(st.status, 404);
    assert.equal(st.json.code, "not_found");
    const dl = await fetch(`${envd.url}/files?path=/etc/hostname&username=ghost`, {
      headers: envd.headers(),
    });
    assert.equal(dl.status, 401);
    assert.match(((await dl.json()) as { message: string }).message, /user "ghost" does not exist/);
  });

  test("background process: SendInput, CloseStdin, List with tag, Connect after the starter left", async () => {
    const started = envd.stream("process.Process/Start", {
      process: { cmd: "/bin/cat", args: [] },
      stdin: true,
      tag: "bg-cat",
    });
    const pid = startPid(await started.next());
    const listed = await envd.unary("process.Process/List", {});
    assert.equal(listed.status, 200);
    const mine = (listed.json.processes as { pid: number; tag?: string; config: { cmd: string } }[]).find(
      (p) => p.pid === pid,
    );
    assert.equal(mine?.tag, "bg-cat");
    assert.equal(mine?.config.cmd, "/bin/cat");

    const sent = await envd.unary("process.Process/SendInput", {
      process: { pid },
      input: { stdin: Buffer.from("hello\n").toString("base64") },
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.json));
    assert.equal(stdoutOf(await started.next()), "hello\n");
    // StreamInput: a client stream (start naming the process, then data) sent as one request body.
    const frame = (m: unknown) => {
      const body = Buffer.from(JSON.stringify(m));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      return Buffer.concat([head, body]);
    };
    const streamed = await fetch(`${envd.url}/process.Process/StreamInput`, {
      method: "POST",
      headers: envd.headers({ "content-type": "application/connect+json" }),
      body: Buffer.concat([
        frame({ start: { process: { pid } } }),
        frame({ data: { input: { stdin: Buffer.from("via ").toString("base64") } } }),
        frame({ keepalive: {} }),
        frame({ data: { input: { stdin: Buffer.from("stream\n").toString("base64") } } }),
      ]),
    });
    assert.equal(streamed.status, 200);
    const ends = Buffer.from(await streamed.arrayBuffer());
    assert.equal(ends[ends.readUInt32BE(1) + 5], 2, "a message, then the end of the stream");
    assert.equal(ends.subarray(ends.readUInt32BE(1) + 10).toString(), "{}");
    let echoedBack = "";
    while (echoedBack !== "via stream\n") echoedBack += stdoutOf(await started.next());
    const closed = await envd.unary("process.Process/CloseStdin", { process: { tag: "bg-cat" } });
    assert.equal(closed.status, 200, JSON.stringify(closed.json));
    const rest = summarize(await started.all());
    assert.deepEqual(rest.end, { exitCode: 0, exited: true, status: "exit status 0" });

    // A reader started by one request, left, then watched again through Connect.
    const gone = new AbortController();
    const reader = envd.stream(
      "process.Process/Start",
      { process: { cmd: "/bin/sh", args: ["-c", 'read x; echo "got $x"'] }, stdin: true },
      {},
      gone.signal,
    );
    const rpid = startPid(await reader.next());
    gone.abort();
    const watch = envd.stream("process.Process/Connect", { process: { pid: rpid } });
    const again = await watch.next();
    assert.deepEqual(again?.json, { event: { start: { pid: rpid } } });
    const s2 = await envd.unary("process.Process/SendInput", {
      process: { pid: rpid },
      input: { stdin: Buffer.from("v\n").toString("base64") },
    });
    assert.equal(s2.status, 200, JSON.stringify(s2.json));
    const r = summarize(await watch.all());
    assert.equal(r.stdout, "got v\n");
    assert.equal(r.end?.exitCode, 0);
  });

  test("SendSignal kills a process (end says so); a gone process is not_found", async () => {
    const sleeper = envd.stream("process.Process/Start", {
      process: { cmd: "/bin/sleep", args: ["600"] },
      stdin: false,
    });
    const pid = startPid(await sleeper.next());
    const k = await envd.unary("process.Process/SendSignal", { process: { pid }, signal: "SIGNAL_SIGKILL" });
    assert.equal(k.status, 200, JSON.stringify(k.json));
    const r = summarize(await sleeper.all());
    assert.deepEqual(r.end, {
      exitCode: -1,
      exited: false,
      status: "signal: killed",
      error: "signal: killed",
    });
    const again = await envd.unary("process.Process/SendSignal", {
      process: { pid },
      signal: "SIGNAL_SIGKILL",
    });
    assert.equal(again.status, 404);
    assert.equal(again.json.code, "not_found");
    const bad = await envd.unary("process.Process/SendSignal", { process: { pid }, signal: "SIGNAL_SIGHUP" });
    assert.equal(bad.json.code, "invalid_argument");
  });

  test("a terminal: pty output, input and Update's size reach the command", async () => {
    const term = envd.stream("process.Process/Start", {
      process: { cmd: "/bin/sh", args: [] },
      pty: { size: { cols: 80, rows: 24 } },
    });
    const pid = startPid(await term.next());
    let seen = "";
    const until = async (text: string) => {
      while (!seen.includes(text)) {
        const e = await term.next();
        assert.ok(e && !e.end, `the terminal ended before showing ${JSON.stringify(text)}: ${seen}`);
        const data = (e.json.event as { data?: { pty?: string } }).data;
        if (data?.pty) seen += Buffer.from(data.pty, "base64").toString();
      }
    };
    const type = (text: string) =>
      envd.unary("process.Process/SendInput", {
        process: { pid },
        input: { pty: Buffer.from(text).toString("base64") },
      });
    assert.equal((await type("stty size\n")).status, 200);
    await until("24 80");
    const resized = await envd.unary("process.Process/Update", {
      process: { pid },
      pty: { size: { cols: 100, rows: 30 } },
    });
    assert.equal(resized.status, 200, JSON.stringify(resized.json));
    await type("stty size; exit 4\n");
    await until("30 100");
    const r = summarize(await term.all());
    assert.equal(r.end?.exitCode, 4);
  });

  test("Connect-Timeout-Ms bounds a command: it is killed and the stream says deadline_exceeded", async () => {
    const r = summarize(
      await envd
        .stream(
          "process.Process/Start",
          { process: { cmd: "/bin/sleep", args: ["60"] } },
          { "connect-timeout-ms": "1500" },
        )
        .all(),
    );
    assert.equal(r.end?.status, "signal: killed");
    assert.equal(r.error?.code, "deadline_exceeded");
    const listed = await envd.unary("process.Process/List", {});
    assert.ok(
      !(listed.json.processes as { pid: number }[]).some((p) => p.pid === r.pid),
      "nothing left running",
    );
  });

  test("files: multipart and octet-stream uploads round-trip, relative paths are the user's home", async () => {
    const form = new FormData();
    form.append("file", new Blob(["hello from e2b\n"]), "docs/a.txt");
    const up = await fetch(`${envd.url}/files?username=user`, {
      method: "POST",
      headers: envd.headers(),
      body: form,
    });
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), [{ path: "/home/user/docs/a.txt", name: "a.txt", type: "file" }]);
    const down = await fetch(`${envd.url}/files?path=docs/a.txt`, { headers: envd.headers() });
    assert.equal(down.status, 200);
    assert.equal(await down.text(), "hello from e2b\n");

    const payload = randomBytes(300 * 1024);
    const bin = await fetch(`${envd.url}/files?path=/tmp/e2b/bin.dat&username=root`, {
      method: "POST",
      headers: envd.headers({ "content-type": "application/octet-stream" }),
      body: payload,
    });
    assert.equal(bin.status, 200);
    const back = await fetch(`${envd.url}/files?path=/tmp/e2b/bin.dat`, { headers: envd.headers() });
    assert.ok(Buffer.from(await back.arrayBuffer()).equals(payload));

    const st = await envd.unary("filesystem.Filesystem/Stat", { path: "docs/a.txt" });
    assert.equal(st.status, 200);
    const entry = st.json.entry as Record<string, unknown>;
    assert.equal(entry.path, "/home/user/docs/a.txt");
    assert.equal(entry.type, "FILE_TYPE_FILE");
    assert.equal(entry.size, "15");
    assert.equal(entry.owner, "user");
    assert.equal(entry.permissions, "-rw-r--r--");

    const missing = await fetch(`${envd.url}/files?path=/nope/x`, { headers: envd.headers() });
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { code: 404, message: "path '/nope/x' does not exist" });
    const dir = await fetch(`${envd.url}/files?path=/tmp`, { headers: envd.headers() });
    assert.equal(dir.status, 400);
    assert.deepEqual(await dir.json(), { code: 400, message: "path '/tmp' is a directory" });

    // The SDK's gzip uploads: stored decoded.
    const zipped = await fetch(`${envd.url}/files?path=/tmp/e2b/z.txt`, {
      method: "POST",
      headers: envd.headers({ "content-type": "application/octet-stream", "content-encoding": "gzip" }),
      body: gzipSync(Buffer.from("unzipped text")),
    });
    assert.equal(zipped.status, 200);
    const unz = await fetch(`${envd.url}/files?path=/tmp/e2b/z.txt`, { headers: envd.headers() });
    assert.equal(await unz.text(), "unzipped text");
    const corrupt = await fetch(`${envd.url}/files?path=/tmp/e2b/bad.txt`, {
      method: "POST",
      headers: envd.headers({ "content-type": "application/octet-stream", "content-encoding": "gzip" }),
      body: Buffer.from("this is not gzip at all, nowhere near"),
    });
    assert.equal(corrupt.status, 400);
    assert.deepEqual(await corrupt.json(), { code: 400, message: "the upload is not valid gzip" });
    const none = await envd.unary("filesystem.Filesystem/Stat", { path: "/tmp/e2b/bad.txt" });
    assert.equal(none.json.code, "not_found", "nothing half-written");

    // An upload declared larger than the limit is refused before a byte is read.
    const big = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${envd.url}/files?path=/tmp/e2b/huge.bin`);
      const r = request(
        {
          host: u.hostname,
          port: u.port,
          path: `${u.pathname}${u.search}`,
          method: "POST",
          headers: envd.headers({
            "content-type": "application/octet-stream",
            "content-length": String(2 * 1024 * 1024 * 1024),
          }),
        },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => {
            resolve({ status: res.statusCode ?? 0, body });
            r.destroy();
          });
        },
      );
      r.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
      r.flushHeaders();
    });
    assert.equal(big.status, 413);
    assert.match(big.body, /exceeds 1073741824 bytes/);
  });

  test("filesystem: MakeDir, ListDir with depth, Move, Remove, not_found, WatchDir unimplemented", async () => {
    const mk = await envd.unary("filesystem.Filesystem/MakeDir", { path: "/tmp/t1/a/b" });
    assert.equal(mk.status, 200, JSON.stringify(mk.json));
    assert.equal((mk.json.entry as { type: string }).type, "FILE_TYPE_DIRECTORY");
    assert.equal((mk.json.entry as { owner: string }).owner, "user");
    const twice = await envd.unary("filesystem.Filesystem/MakeDir", { path: "/tmp/t1/a/b" });
    assert.equal(twice.json.code, "already_exists");

    const one = await envd.unary("filesystem.Filesystem/ListDir", { path: "/tmp/t1", depth: 1 });
    assert.deepEqual(
      (one.json.entries as { path: string }[]).map((e) => e.path),
      ["/tmp/t1/a"],
    );
    const two = await envd.unary("filesystem.Filesystem/ListDir", { path: "/tmp/t1", depth: 2 });
    assert.deepEqual((two.json.entries as { path: string }[]).map((e) => e.path).sort(), [
      "/tmp/t1/a",
      "/tmp/t1/a/b",
    ]);

    const mv = await envd.unary("filesystem.Filesystem/Move", {
      source: "/tmp/t1/a",
      destination: "/tmp/t1/z",
    });
    assert.equal(mv.status, 200, JSON.stringify(mv.json));
    assert.equal((mv.json.entry as { path: string }).path, "/tmp/t1/z");
    const old = await envd.unary("filesystem.Filesystem/Stat", { path: "/tmp/t1/a" });
    assert.deepEqual(old.json, { code: "not_found", message: "path '/tmp/t1/a' does not exist" });

    const rm1 = await envd.unary("filesystem.Filesystem/Remove", { path: "/tmp/t1" });
    assert.equal(rm1.status, 200);
    const gone = await envd.unary("filesystem.Filesystem/ListDir", { path: "/tmp/t1" });
    assert.equal(gone.json.code, "not_found");

    const w = summarize(await envd.stream("filesystem.Filesystem/WatchDir", { path: "/tmp" }).all());
    assert.equal(w.error?.code, "unimplemented");
    const cw = await envd.unary("filesystem.Filesystem/CreateWatcher", { path: "/tmp" });
    assert.equal(cw.status, 501);
    assert.match(String(cw.json.message), /watching directories is not supported/);
  });
});
