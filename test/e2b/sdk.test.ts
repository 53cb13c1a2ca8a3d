import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  CommandExitError,
  FileType,
  NotFoundError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
} from "e2b";
import { ENVD_VERSION } from "../../src/e2b/envd/index.js";
import { type E2bHost, startE2bHost, useE2bHost, waitFor } from "./fixture.js";

// The acceptance suite: the official `e2b` SDK (pinned), and nothing of ours on the client side,
// against `mvmctl serve --e2b` and one snapshotted template. Two sandboxes serve the whole file: `a`
// lives until its timeout is shortened at the end, `b` is killed.

const ids = (xs: { sandboxId: string }[]) => xs.map((x) => x.sandboxId).sort();

describe("the official e2b SDK against mvmctl serve --e2b", () => {
  let host: E2bHost;
  let a: Sandbox;
  let b: Sandbox;
  const run = randomBytes(4).toString("hex");
  const note = "a b&c=d/é%20";

  before(async () => {
    host = await startE2bHost();
    useE2bHost(host);
  });

  after(async () => {
    await host?.close();
  });

  test("Sandbox.create from a snapshotted template, by name and by name:tag", async () => {
    a = await Sandbox.create("box", {
      timeoutMs: 600_000,
      metadata: { suite: "e2b", run, note },
      envs: { GREETING: "hi from e2b" },
    });
    b = await Sandbox.create("box:stable", {
      timeoutMs: 600_000,
      metadata: { suite: "e2b", run, role: "doomed" },
    });
    assert.match(a.sandboxId, /^[a-z0-9]{20}$/);
    assert.notEqual(a.sandboxId, b.sandboxId);
    const info = await a.getInfo();
    assert.equal(info.sandboxId, a.sandboxId);
    assert.equal(info.templateId, "box");
    assert.equal(info.state, "running");
    assert.equal(info.envdVersion, ENVD_VERSION);
    assert.deepEqual(info.metadata, { suite: "e2b", run, note });
    assert.equal(info.cpuCount, 1);
    assert.equal(info.memoryMB, 512);
    const ttlS = (info.endAt.getTime() - info.startedAt.getTime()) / 1000;
    assert.ok(ttlS > 500 && ttlS <= 601, `the timeout given is the sandbox's TTL (${ttlS} s)`);
    const bInfo = await Sandbox.getInfo(b.sandboxId);
    assert.equal(bInfo.templateId, "box");
    assert.equal(bInfo.name, "box:stable");
    assert.deepEqual((await host.lsNames()).sort(), ids([a, b]), "sandboxes are ordinary VMs");
  });

  test("Sandbox.list filters on metadata (reserved characters too), state, and pages", async () => {
    const listed = async (metadata: Record<string, string>) =>
      ids(await Sandbox.list({ query: { metadata } }).nextItems());
    assert.deepEqual(await listed({ run }), ids([a, b]));
    assert.deepEqual(await listed({ run, role: "doomed" }), [b.sandboxId]);
    assert.deepEqual(await listed({ note }), [a.sandboxId]);
    assert.deepEqual(await listed({ run: "other" }), []);
    assert.deepEqual(await Sandbox.list({ query: { state: ["paused"] } }).nextItems(), []);
    const one = (await Sandbox.list({ query: { metadata: { note } } }).nextItems())[0];
    assert.equal(one?.state, "running");
    assert.equal(one?.templateId, "box");
    assert.deepEqual(one?.metadata, { suite: "e2b", run, note });
    const pages = Sandbox.list({ limit: 1, query: { metadata: { run } } });
    const first = await pages.nextItems();
    assert.equal(first.length, 1);
    assert.equal(pages.hasNext, true);
    const second = await pages.nextItems();
    assert.equal(pages.hasNext, false);
    assert.deepEqual(ids([...first, ...second]), ids([a, b]));
  });

  test("Sandbox.connect from a second client: same sandbox, and a timeout only ever extends it", async () => {
    const end0 = (await a.getInfo()).endAt.getTime();
    const second = await Sandbox.connect(a.sandboxId, {
      apiKey: host.apiKey,
      apiUrl: host.url,
      sandboxUrl: host.url,
    });
    assert.equal(second.sandboxId, a.sandboxId);
    assert.equal((await second.getInfo()).endAt.getTime(), end0, "connect without a timeout keeps it");
    await Sandbox.connect(a.sandboxId, { timeoutMs: 5_000 });
    assert.equal((await a.getInfo()).endAt.getTime(), end0, "a shorter timeout does not shorten it");
    await Sandbox.connect(a.sandboxId, { timeoutMs: 3_600_000 });
    assert.ok((await a.getInfo()).endAt.getTime() > end0 + 2_000_000, "a longer one extends it");
  });

  test("a restarted daemon serves the same sandboxes, metadata and timeouts", async () => {
    const end = (await a.getInfo()).endAt.getTime();
    await host.restart();
    const info = await a.getInfo();
    assert.equal(info.endAt.getTime(), end);
    assert.deepEqual(info.metadata, { suite: "e2b", run, note });
    assert.deepEqual(ids(await Sandbox.list({ query: { metadata: { run } } }).nextItems()), ids([a, b]));
  });

  test("a missing template and a missing sandbox are not-found errors", async () => {
    const before = await host.lsNames();
    await assert.rejects(Sandbox.create("nope"), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.statusCode, 404);
      assert.match(e.message, /template "nope" not found/);
      return true;
    });
    await assert.rejects(Sandbox.create("box:no-such-tag"), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.statusCode, 404);
      assert.match(e.message, /template box has no tag no-such-tag/);
      return true;
    });
    const ghost = "izzzzzzzzzzzzzzzzzzz";
    const notFound = (e: unknown) => e instanceof SandboxNotFoundError && e instanceof NotFoundError;
    await assert.rejects(Sandbox.getInfo(ghost), notFound);
    await assert.rejects(Sandbox.connect(ghost), notFound);
    await assert.rejects(Sandbox.setTimeout(ghost, 10_000), notFound);
    assert.equal(await Sandbox.kill(ghost), false);
    assert.deepEqual(await host.lsNames(), before, "nothing was started");
  });

  test("what this host cannot do is refused in E2B's error shape, before anything starts", async () => {
    const before = await host.lsNames();
    await assert.rejects(a.pause(), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /pausing a sandbox .*is not supported/);
      return true;
    });
    await assert.rejects(Sandbox.create("box", { lifecycle: { onTimeout: "pause" } }), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /autoPause .*is not supported/);
      return true;
    });
    await assert.rejects(Sandbox.create("box", { allowInternetAccess: false }), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.match(e.message, /allow_internet_access=false .*is not supported/);
      return true;
    });
    await assert.rejects(
      Sandbox.list({ apiKey: `${host.apiKey}x` }).nextItems(),
      (e: unknown) => e instanceof AuthenticationError && /X-API-Key/.test(e.message),
    );
    assert.deepEqual(await host.lsNames(), before);
  });

  describe("through envd", () => {
    test("commands.run in the foreground: output, exit codes, CommandExitError", async () => {
      const r = await a.commands.run("echo hello; echo oops >&2");
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout, "hello\n");
      assert.equal(r.stderr, "oops\n");
      await assert.rejects(a.commands.run("echo partial; exit 3"), (e: unknown) => {
        assert.ok(e instanceof CommandExitError);
        assert.equal(e.exitCode, 3);
        assert.equal(e.stdout, "partial\n");
        return true;
      });
    });

    test("commands.run with envs (from create and per command), cwd and user", async () => {
      assert.equal((await a.commands.run('echo "$GREETING"')).stdout, "hi from e2b\n");
      assert.equal(
        (await a.commands.run('echo "$X"', { envs: { X: "per command" } })).stdout,
        "per command\n",
      );
      assert.equal((await a.commands.run("pwd", { cwd: "/tmp" })).stdout, "/tmp\n");
      assert.equal((await a.commands.run("id -u", { user: "root" })).stdout, "0\n");
      // A user the guest does not have is refused (the SDK's AuthenticationError), never run as root.
      await assert.rejects(a.commands.run("id -u", { user: "no-such-user" }), (e: unknown) => {
        assert.ok(e instanceof AuthenticationError, String(e));
        assert.match(e.message, /no-such-user/);
        return true;
      });
    });

    test("a background command streams onStdout and is killed", async () => {
      let out = "";
      const h = await a.commands.run("echo started; sleep 120; echo never", {
        background: true,
        onStdout: (d) => {
          out += d;
        },
      });
      await waitFor("the first line of output", async () => out.includes("started"));
      assert.equal(await h.kill(), true);
      await assert.rejects(h.wait(), (e: unknown) => e instanceof CommandExitError);
      assert.ok(!out.includes("never"));
    });

    test("files: write, read, exists, getInfo, list, makeDir, rename, remove", async () => {
      assert.equal(await a.files.makeDir("/tmp/e2b/dir"), true);
      await a.files.write("/tmp/e2b/dir/hello.txt", "hello, file\n");
      assert.equal(await a.files.read("/tmp/e2b/dir/hello.txt"), "hello, file\n");
      assert.equal(await a.files.exists("/tmp/e2b/dir/hello.txt"), true);
      const st = await a.files.getInfo("/tmp/e2b/dir/hello.txt");
      assert.equal(st.type, FileType.FILE);
      assert.equal(st.size, 12);
      assert.deepEqual(
        (await a.files.list("/tmp/e2b/dir")).map((e) => [e.name, e.type]),
        [["hello.txt", FileType.FILE]],
      );
      await a.files.rename("/tmp/e2b/dir/hello.txt", "/tmp/e2b/moved.txt");
      assert.equal(await a.files.exists("/tmp/e2b/dir/hello.txt"), false);
      assert.equal(await a.files.read("/tmp/e2b/moved.txt"), "hello, file\n");
      await a.files.remove("/tmp/e2b");
      assert.equal(await a.files.exists("/tmp/e2b"), false);
      await assert.rejects(a.files.read("/tmp/e2b/moved.txt"), (e: unknown) => e instanceof NotFoundError);
    });

    test("a second client (Sandbox.connect) works in the same sandbox", async () => {
      await a.files.write("/tmp/shared.txt", "from the first client");
      const second = await Sandbox.connect(a.sandboxId);
      assert.equal(await second.files.read("/tmp/shared.txt"), "from the first client");
      assert.equal(await second.isRunning(), true);
    });
  });

  test("envd requests need the sandbox's own access token", async () => {
    // A client holding another token (or none) for b, built as the SDK builds one from an id.
    const withToken = (envdAccessToken: string | undefined) =>
      new (Sandbox as unknown as new (o: Record<string, unknown>) => Sandbox)({
        sandboxId: b.sandboxId,
        envdVersion: ENVD_VERSION,
        ...(envdAccessToken ? { envdAccessToken } : {}),
      });
    for (const token of ["not-the-token-of-this-sandbox", undefined])
      await assert.rejects(
        withToken(token).isRunning(),
        (e: unknown) => e instanceof AuthenticationError && /X-Access-Token/.test(e.message),
      );
  });

  test("kill: the sandbox and its VM are gone, and a second kill says so", async () => {
    assert.equal(await b.kill(), true);
    assert.equal(await Sandbox.kill(b.sandboxId), false);
    await assert.rejects(b.getInfo(), (e: unknown) => e instanceof SandboxNotFoundError);
    assert.equal(await b.isRunning(), false, "envd requests for it answer as E2B's do for a dead sandbox");
    assert.deepEqual(await host.lsNames(), [a.sandboxId]);
    assert.deepEqual(ids(await Sandbox.list({ query: { metadata: { run } } }).nextItems()), [a.sandboxId]);
  });

  test("setTimeout: the sandbox's end moves, and it is stopped when the timeout passes", async () => {
    const t0 = Date.now();
    await a.setTimeout(120_000);
    const end = (await a.getInfo()).endAt.getTime();
    assert.ok(end >= t0 + 119_000 && end <= Date.now() + 121_000, "it ends 120 s from the call");
    await a.setTimeout(1_000);
    await waitFor("the sandbox to expire", async () =>
      a.getInfo().then(
        () => false,
        (e: unknown) => e instanceof SandboxNotFoundError,
      ),
    );
    assert.equal(await a.isRunning(), false);
    assert.deepEqual(await host.lsNames(), []);
  });
});
