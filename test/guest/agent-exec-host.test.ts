import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { GuestChannel, GuestError } from "../../src/guest/channel.js";
import {
  type ExecRequest,
  listGuestProcesses,
  STREAM_CHUNK,
  STREAM_WINDOW,
  signalGuestProcess,
  startExec,
} from "../../src/guest/exec.js";
import {
  listGuest,
  mkdirGuest,
  readGuestFile,
  removeGuest,
  renameGuest,
  statGuest,
  writeGuestFile,
} from "../../src/guest/files.js";
import { GuestMux } from "../../src/guest/mux.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { startHostAgent } from "../helpers/host-agent.js";

// The real agent from the kit, run on this host with --listen-unix, against the host client: exec
// (exit codes, signals, stdin, a terminal, timeouts, back-pressure, concurrency, processes that
// outlive their client), file requests and their errors, limits, and the keeper's multiplexer that
// lets several clients share one agent stream.

const work = mkdtempSync(join(tmpdir(), "mvm-agent-exec-"));
const sock = join(work, "agent.sock");
let agent: ChildProcess;

before(async () => {
  const kit = await ensureTestKit();
  mkdirSync(join(work, "cfg", "checks", "ok"), { recursive: true });
  writeFileSync(join(work, "cfg", "checks", "ok", "cmd"), "exit 0");
  writeFileSync(join(work, "cfg", "checks", "ok", "interval"), "1\n");
  agent = startHostAgent({
    kitDir: kit.dir,
    configDir: join(work, "cfg"),
    runDir: join(work, "run"),
    socket: sock,
  });
});

after(async () => {
  agent?.kill("SIGTERM");
  await rm(work, { recursive: true, force: true });
});

const channel = (path = sock) => GuestChannel.connectUnix(path, { connectRetryMs: 5000, timeoutMs: 10_000 });

/** A sink that keeps what it is given; `delayMs` makes it a slow reader. */
class Sink extends Writable {
  chunks: Buffer[] = [];
  constructor(private readonly delayMs = 0) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (this.delayMs === 0) cb();
    else setTimeout(cb, this.delayMs);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function run(ch: GuestChannel, argv: string[], extra: Omit<ExecRequest, "argv"> = {}) {
  const stdout = new Sink();
  const stderr = new Sink();
  const r = await startExec(ch, { argv, ...extra }, { stdout, stderr }).result;
  return { ...r, stdout: stdout.text(), stderr: stderr.text() };
}

/** Waits until the command's pid is known; fails (rather than hangs) when it never starts. */
async function startedWithin(pid: () => number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (pid() === 0) {
    assert.ok(Date.now() < deadline, "the command did not start");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function agentPeakRssKiB(): number {
  const status = readFileSync(`/proc/${agent.pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
}

describe("exec", () => {
  test("exit codes, stdout and stderr apart, env, cwd and user", async () => {
    const ch = await channel();
    try {
      const r = await run(ch, ["sh", "-c", 'echo "out $GREETING"; echo err >&2; pwd; id -u; exit 7'], {
        env: { GREETING: "hello world" },
        cwd: "/tmp",
        user: "0",
      });
      assert.equal(r.code, 7);
      assert.equal(r.signal, null);
      assert.equal(r.stdout, "out hello world\n/tmp\n0\n");
      assert.equal(r.stderr, "err\n");
      assert.equal((await run(ch, ["true"])).code, 0);
      await assert.rejects(
        run(ch, ["/no/such/program"]),
        (e: unknown) => e instanceof GuestError && e.code === "not_found",
      );
      await assert.rejects(run(ch, ["true"], { user: "nobody-here" }), /no such user/);
      await assert.rejects(
        run(ch, ["true"], { cwd: "/no/such/dir" }),
        (e: unknown) =>
          e instanceof GuestError &&
          e.code === "not_found" &&
          /cannot change to directory \/no\/such\/dir/.test(e.message),
      );
    } finally {
      ch.close();
    }
  });

  test("signals reach the command, a timeout kills it", async () => {
    const ch = await channel();
    try {
      const sink = new Sink();
      let pid = 0;
      const running = startExec(
        ch,
        { argv: ["sleep", "100"] },
        { stdout: sink, stderr: sink, onStart: (p) => (pid = p) },
      );
      running.result.catch(() => {});
      await startedWithin(() => pid, 10_000);
      await signalGuestProcess(ch, pid, "TERM");
      const r = await running.result;
      assert.equal(r.code, null);
      assert.equal(r.signal, 15);
      await assert.rejects(
        signalGuestProcess(ch, r.pid, "TERM"),
        (e: unknown) => e instanceof GuestError && e.code === "not_found",
      );
      await assert.rejects(
        signalGuestProcess(ch, 1, "NOPE"),
        (e: unknown) => e instanceof GuestError && e.code === "bad_request",
      );
      const t = await run(ch, ["sleep", "100"], { timeoutMs: 300 });
      assert.equal(t.timedOut, true);
      assert.equal(t.signal, 9);
    } finally {
      ch.close();
    }
  });

  test("stdin is streamed (2 MiB through cat) and closing it ends the input", async () => {
    const ch = await channel();
    try {
      const input = randomBytes(2 * 1024 * 1024);
      const out = new Sink();
      const r = await startExec(
        ch,
        { argv: ["cat"] },
        {
          stdin: Readable.from([input.subarray(0, 1000), input.subarray(1000)]),
          stdout: out,
          stderr: new Sink(),
        },
      ).result;
      assert.equal(r.code, 0);
      assert.equal(sha(out.bytes()), sha(input));
    } finally {
      ch.close();
    }
  });

  test("a terminal: the command sees a tty of the requested size", async () => {
    const ch = await channel();
    try {
      const r = await run(ch, ["sh", "-c", "tty; stty size"], { pty: { rows: 33, cols: 101 } });
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^\/dev\/pts\/\d+\r\n33 101\r\n$/);
    } finally {
      ch.close();
    }
  });

  test("10 MB of output to a slow reader: bounded in flight and in the agent, health still answered", async () => {
    const ch = await channel();
    try {
      const slow = new Sink(2);
      let inFlight = 0;
      let peak = 0;
      const counting = new Writable({
        write(chunk: Buffer, _e, cb) {
          inFlight += chunk.length;
          peak = Math.max(peak, inFlight);
          slow.write(chunk, () => {
            inFlight -= chunk.length;
            cb();
          });
        },
      });
      const running = startExec(
        ch,
        { argv: ["sh", "-c", "head -c 10485760 /dev/urandom | tee /tmp/mvm-exec-10m | cat"] },
        { stdout: counting, stderr: new Sink() },
      );
      // While it streams, other requests on the same connection are answered.
      const pings: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        await ch.ping();
        pings.push(Date.now() - t);
      }
      const h = await ch.health();
      assert.equal(h.checks.length, 1);
      const r = await running.result;
      assert.equal(r.code, 0);
      const got = slow.bytes();
      assert.equal(got.length, 10 * 1024 * 1024);
      assert.equal(sha(got), sha(readFileSync("/tmp/mvm-exec-10m")));
      // Never more than one window (plus the chunk being written) held for the reader.
      assert.ok(peak <= STREAM_WINDOW + STREAM_CHUNK, `peak in flight ${peak}`);
      assert.ok(agentPeakRssKiB() < 16 * 1024, `agent peak RSS ${agentPeakRssKiB()} KiB`);
    } finally {
      await rm("/tmp/mvm-exec-10m", { force: true });
      ch.close();
    }
  });

  test("8 concurrent commands on one connection keep their output apart", async () => {
    const ch = await channel();
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          run(ch, ["sh", "-c", 'for k in 1 2 3; do echo "$N-$k"; sleep 0.1; done; exit $N'], {
            env: { N: String(i) },
          }),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(r.code, i);
        assert.equal(r.stdout, `${i}-1\n${i}-2\n${i}-3\n`);
      });
    } finally {
      ch.close();
    }
  });

  test("a command outlives its client; another client lists it and attaches to its output", async () => {
    const first = await channel();
    let pid = 0;
    startExec(
      first,
      { argv: ["sh", "-c", "sleep 0.4; echo while-away; sleep 0.8; echo finished; exit 3"] },
      { stdout: new Sink(), stderr: new Sink(), onStart: (p) => (pid = p) },
    ).result.catch(() => {});
    await startedWithin(() => pid, 10_000);
    first.close();
    const second = await channel();
    await new Promise((r) => setTimeout(r, 600));
    try {
      let listed = await listGuestProcesses(second);
      for (let i = 0; i < 50 && listed.find((p) => p.pid === pid)?.attached; i++) {
        await new Promise((r) => setTimeout(r, 20));
        listed = await listGuestProcesses(second);
      }
      const mine = listed.find((p) => p.pid === pid);
      assert.ok(mine, "the process is listed");
      assert.equal(mine.running, true);
      assert.equal(mine.attached, false);
      assert.match(mine.command, /^sh -c sleep 0\.4/);
      const out = new Sink();
      const stream = second.openStream("attach", { pid }, (f) => {
        if (f.type === "stdout" && typeof f.data === "string") out.write(Buffer.from(f.data, "base64"));
      });
      const end = await stream.done;
      assert.equal(end.type, "exit");
      assert.equal(end.code, 3);
      // What it wrote while nobody was attached was kept for the next client.
      assert.equal(out.text(), "while-away\nfinished\n");
      assert.equal(
        (await listGuestProcesses(second)).some((p) => p.pid === pid),
        false,
      );
    } finally {
      second.close();
    }
  });

  test("bad exec requests are refused and the agent keeps answering", async () => {
    const ch = await channel();
    try {
      await assert.rejects(
        ch.request("exec", { argv: [] }),
        (e: unknown) => e instanceof GuestError && e.code === "bad_request",
      );
      await assert.rejects(
        ch.request("exec", { argv: Array(1025).fill("x") }),
        /argv must be an array of 1 to 1024/,
      );
      await assert.rejects(ch.request("exec", { argv: ["a\u0000b"] }), /without NUL/);
      await assert.rejects(ch.request("exec", { argv: ["true"], env: { "A=B": "x" } }), /env keys/);
      await assert.rejects(
        ch.request("exec", { argv: ["true"], cwd: "relative" }),
        /cwd must be an absolute path/,
      );
      await assert.rejects(ch.request("exec", { argv: ["true"], timeout_ms: -1 }), /timeout_ms/);
      // More processes than the agent runs at once.
      const sleepers = Array.from({ length: 32 }, () =>
        startExec(ch, { argv: ["sleep", "30"] }, { stdout: new Sink(), stderr: new Sink() }),
      );
      await new Promise((r) => setTimeout(r, 300));
      await assert.rejects(run(ch, ["true"]), (e: unknown) => e instanceof GuestError && e.code === "busy");
      assert.equal((await ch.health()).checks.length, 1);
      for (const p of await listGuestProcesses(ch))
        if (p.running) await signalGuestProcess(ch, p.pid, "KILL");
      await Promise.all(sleepers.map((s) => s.result));
      assert.equal((await run(ch, ["true"])).code, 0);
    } finally {
      ch.close();
    }
  });
});

describe("files", () => {
  const dir = join(work, "files");

  test("write (atomic, mode, parents) and read back, whole and ranged", async () => {
    const ch = await channel();
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const path = join(dir, "a", "b", "blob.bin");
      const n = await writeGuestFile(ch, path, Readable.from([data]), { mode: 0o640, parents: true });
      assert.equal(n, data.length);
      assert.equal(statSync(path).mode & 0o777, 0o640);
      assert.equal(sha(readFileSync(path)), sha(data));
      const back = new Sink();
      const r = await readGuestFile(ch, path, back);
      assert.equal(r.size, data.length);
      assert.equal(r.mode, 0o640);
      assert.equal(sha(back.bytes()), sha(data));
      const part = new Sink();
      await readGuestFile(ch, path, part, { offset: 1000, length: 70000 });
      assert.deepEqual(part.bytes(), data.subarray(1000, 71000));
      const s = await statGuest(ch, path);
      assert.equal(s.kind, "file");
      assert.equal(s.size, data.length);
    } finally {
      ch.close();
    }
  });

  test("a write cut off midway leaves the old file and no temporary file", async () => {
    const ch = await channel();
    const path = join(dir, "keep.txt");
    writeFileSync(path, "old contents\n");
    const s = ch.openStream("write", { path }, () => {});
    s.send("data", { data: Buffer.from("half of the new").toString("base64") });
    await new Promise((r) => setTimeout(r, 100));
    ch.close();
    await s.done.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(readFileSync(path, "utf8"), "old contents\n");
    const check = await channel();
    try {
      const names = (await listGuest(check, dir)).map((e) => e.path);
      assert.deepEqual(
        names.filter((n) => n.includes("keep")),
        ["keep.txt"],
      );
    } finally {
      check.close();
    }
  });

  test("list, mkdir -p, rename, remove -r", async () => {
    const ch = await channel();
    try {
      const root = join(dir, "tree");
      await mkdirGuest(ch, join(root, "x", "y"), { parents: true, mode: 0o750 });
      assert.equal(statSync(join(root, "x", "y")).mode & 0o777, 0o750);
      writeFileSync(join(root, "x", "f.txt"), "f");
      const one = await listGuest(ch, root, 1);
      assert.deepEqual(
        one.map((e) => [e.path, e.kind]),
        [["x", "dir"]],
      );
      const all = await listGuest(ch, root, 5);
      assert.deepEqual(all.map((e) => e.path).sort(), ["x", "x/f.txt", "x/y"]);
      await renameGuest(ch, join(root, "x"), join(root, "z"));
      assert.equal((await statGuest(ch, join(root, "z", "f.txt"))).size, 1);
      await assert.rejects(
        removeGuest(ch, root),
        (e: unknown) => e instanceof GuestError && e.code === "not_empty",
      );
      await removeGuest(ch, root, { recursive: true });
      await assert.rejects(
        statGuest(ch, root),
        (e: unknown) => e instanceof GuestError && e.code === "not_found",
      );
    } finally {
      ch.close();
    }
  });

  test("hostile paths and special files fail with errno-like codes, health unaffected", async () => {
    const ch = await channel();
    try {
      const code = (c: string) => (e: unknown) => e instanceof GuestError && e.code === c;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "plain"), "x");
      spawnSync("mkfifo", [join(dir, "fifo")]);
      await assert.rejects(statGuest(ch, "relative/path"), code("invalid_path"));
      await assert.rejects(statGuest(ch, "/etc/\u0000passwd"), code("invalid_path"));
      await assert.rejects(statGuest(ch, `/${"a".repeat(5000)}`), code("invalid_path"));
      await assert.rejects(statGuest(ch, `/${"a".repeat(300)}`), code("name_too_long"));
      await assert.rejects(readGuestFile(ch, "/no/such/file", new Sink()), code("not_found"));
      await assert.rejects(readGuestFile(ch, dir, new Sink()), code("is_directory"));
      await assert.rejects(
        readGuestFile(ch, join(dir, "plain", "below"), new Sink()),
        code("not_a_directory"),
      );
      await assert.rejects(readGuestFile(ch, "/dev/zero", new Sink()), code("not_regular"));
      await assert.rejects(readGuestFile(ch, join(dir, "fifo"), new Sink()), code("not_regular"));
      await assert.rejects(writeGuestFile(ch, dir, Readable.from([Buffer.from("x")])), code("is_directory"));
      await assert.rejects(mkdirGuest(ch, join(dir, "plain")), code("already_exists"));
      await assert.rejects(removeGuest(ch, "/"), code("permission_denied"));
      await assert.rejects(ch.request("list", { path: dir, depth: 99 }), /depth must be 1 to 32/);
      assert.equal((await ch.health()).checks[0]?.name, "ok");
    } finally {
      ch.close();
    }
  });
});

describe("the keeper's multiplexer", () => {
  test("several clients share one agent stream; a client that leaves detaches its processes", async () => {
    const muxPath = join(work, "guest.sock");
    // The agent's unix listener stands in for QEMU's chardev: one upstream connection.
    const mux = new GuestMux(muxPath, sock);
    await mux.start();
    const clients = await Promise.all([channel(muxPath), channel(muxPath), channel(muxPath)]);
    try {
      const outs = await Promise.all(
        clients.map((c, i) => run(c, ["sh", "-c", `echo client-${i}; exit ${i + 1}`])),
      );
      outs.forEach((r, i) => {
        assert.equal(r.code, i + 1);
        assert.equal(r.stdout, `client-${i}\n`);
      });
      // The same request id from two clients does not mix the answers up.
      const [a, b] = await Promise.all([clients[0]!.ping(), clients[1]!.health()]);
      assert.equal(a.protocol, 1);
      assert.equal(b.checks.length, 1);
      let pid = 0;
      startExec(
        clients[2]!,
        { argv: ["sleep", "30"] },
        { stdout: new Sink(), stderr: new Sink(), onStart: (p) => (pid = p) },
      ).result.catch(() => {});
      await startedWithin(() => pid, 10_000);
      clients[2]!.close();
      let mine = (await listGuestProcesses(clients[0]!)).find((p) => p.pid === pid);
      for (let i = 0; i < 50 && mine?.attached; i++) {
        await new Promise((r) => setTimeout(r, 20));
        mine = (await listGuestProcesses(clients[0]!)).find((p) => p.pid === pid);
      }
      assert.equal(mine?.running, true);
      assert.equal(mine?.attached, false);
      await signalGuestProcess(clients[0]!, pid, "KILL");
    } finally {
      for (const c of clients) c.close();
      mux.stop();
    }
  });
});
