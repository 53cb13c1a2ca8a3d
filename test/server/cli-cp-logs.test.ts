import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { Mvm } from "../../src/sdk/index.js";
import { CLI, type CliResult, runCli, tempDir } from "../helpers/cli.js";
import { errorCode, http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { createOfflineTemplate } from "../helpers/offline-template.js";
import { cliFor, sha256, treeManifest, writeSampleTree } from "../helpers/scratch.js";
import { waitFor } from "../helpers/wait.js";

// `mvmctl cp` and `mvmctl logs` while a daemon runs for the data dir, on QEMU (TCG): one template
// built and snapshotted, one VM restored for the whole file. Each command runs as a user runs it, with
// a recorder of the modules it loads: a CLI that never loaded the guest channel (or the console log
// reader) cannot have done the work itself, so it went through the daemon.

const MiB = 1024 * 1024;
/** The large file copied both ways. */
const BIG = 50 * MiB;
/**
 * Peak RSS a copy of BIG may reach: the CLI itself (with the module recorder) peaks at 75–105 MiB
 * here whatever the file's size, so a copy that held the whole file would exceed this.
 */
const PEAK_BOUND = 128 * MiB;
const HELPERS = resolve(import.meta.dirname, "..", "helpers");
const RECORDER = join(HELPERS, "module-log.js");
const PEAK_RSS = join(HELPERS, "peak-rss.js");

interface Traced extends CliResult {
  /** dist-relative files of the modules the CLI loaded. */
  modules: string[];
  peakRss: number;
}

/** Whether process `pid` has `file` open for reading only (as a reader of the log does). */
function reads(pid: number, file: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== file) return false;
        const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
        return flags !== null && (Number.parseInt(flags[1] as string, 8) & 0o3) === 0;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

describe("cp and logs through a running daemon", () => {
  const root = tempDir("mvm-cp-logs-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const vmDir = join(data, "vms", "vm1");
  const accel = { MVM_QEMU_ACCEL: "tcg" };
  const cli = cliFor(data, accel);
  let daemon: TestDaemon;
  /** The VM's console log (from its vm.json). */
  let logPath = "";

  /** The CLI with the module recorder and the peak-RSS probe. */
  const traced = async (args: string[]): Promise<Traced> => {
    const trace = tempDir("mvm-trace-");
    const log = join(trace, "modules.log");
    const rss = join(trace, "rss");
    const r = await runCli(args, {
      dataDir: data,
      env: { ...accel, MVM_TEST_MODULE_LOG: log, MVM_TEST_PEAK_RSS: rss },
      nodeArgs: ["--import", RECORDER, "--import", PEAK_RSS],
      timeoutMs: 180_000,
    });
    const dist = `${resolve(import.meta.dirname, "..", "..")}/`;
    const modules = readFileSync(log, "utf8")
      .split("\n")
      .filter((u) => u.startsWith("file:"))
      .map((u) => decodeURIComponent(new URL(u).pathname))
      .map((p) => (p.startsWith(dist) ? p.slice(dist.length) : p));
    const peakRss = Number(readFileSync(rss, "utf8"));
    rmSync(trace, { recursive: true, force: true });
    return { ...r, modules, peakRss };
  };

  const viaDaemon = (r: Traced) => {
    assert.ok(r.modules.includes("src/sdk/transport.js"), "the CLI spoke to the daemon");
    assert.ok(!r.modules.includes("src/guest/channel.js"), "the CLI never opened the guest channel itself");
  };

  before(async () => {
    await createOfflineTemplate(cli, { data, proj, name: "box", preset: "http", memMib: 512, cpus: 1 });
    const build = await cli(["template", "build", "box", "--snapshot"]);
    assert.equal(build.code, 0, build.stderr);
    daemon = await startTestDaemon(data);
    const up = await cli(["up", "--template", "box", "--name", "vm1", "-d", "--json"]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((JSON.parse(up.stdout) as { mode: string }).mode, "restore");
    logPath = (JSON.parse(readFileSync(join(vmDir, "vm.json"), "utf8")) as { console_log: string })
      .console_log;
    assert.ok(logPath, "the VM record names its console log");
  });

  after(async () => {
    await daemon?.stop();
    await cli(["down", "--all", "--no-daemon"]);
    await rm(root, { recursive: true, force: true });
  });

  test("cp a 50 MiB file in and out through the daemon: streamed, modes kept, SHA-256 equal", async (t) => {
    const src = join(root, "big.bin");
    writeFileSync(src, randomBytes(BIG));
    chmodSync(src, 0o640);
    const up = await traced(["cp", src, "vm1:/tmp/big.bin", "--json"]);
    assert.equal(up.code, 0, up.stderr);
    viaDaemon(up);
    assert.deepEqual(JSON.parse(up.stdout), {
      files: 1,
      dirs: 0,
      bytes: BIG,
      skipped: 0,
      target: "/tmp/big.bin",
      direction: "to_guest",
      vm: "vm1",
    });
    assert.ok(up.peakRss < PEAK_BOUND, `cp to the guest peaked at ${up.peakRss} bytes`);
    const inGuest = await cli([
      "exec",
      "vm1",
      "--",
      "sh",
      "-c",
      "sha256sum /tmp/big.bin; stat -c %a /tmp/big.bin",
    ]);
    assert.equal(inGuest.stdout, `${sha256(src)}  /tmp/big.bin\n640\n`);

    const back = join(root, "back.bin");
    const down = await traced(["cp", "vm1:/tmp/big.bin", back]);
    assert.equal(down.code, 0, down.stderr);
    viaDaemon(down);
    assert.equal(down.stderr, `[mvm] Copied 1 file, ${BIG} bytes to ${back}\n`);
    assert.ok(down.peakRss < PEAK_BOUND, `cp from the guest peaked at ${down.peakRss} bytes`);
    t.diagnostic(
      `peak RSS of cp: ${(up.peakRss / MiB).toFixed(1)} MiB in, ${(down.peakRss / MiB).toFixed(1)} MiB out`,
    );
    assert.equal(sha256(back), sha256(src));
    assert.equal(statSync(back).mode & 0o777, 0o640);
    await cli(["exec", "vm1", "--", "rm", "/tmp/big.bin"]);
  });

  test("cp a directory tree in and out through the daemon: same files, contents and modes", async () => {
    const tree = join(root, "tree");
    writeSampleTree(tree);
    const up = await traced(["cp", tree, "vm1:/tmp/"]);
    assert.equal(up.code, 0, up.stderr);
    viaDaemon(up);
    assert.equal((await cli(["exec", "vm1", "--", "/tmp/tree/a/run.sh"])).stdout, "hi\n");
    const listed = await cli(["exec", "vm1", "--", "ls", "-a", "/tmp"]);
    assert.deepEqual(
      listed.stdout.split("\n").filter((n) => n.includes("mvm-cp")),
      [],
      "no staging directory is left behind",
    );
    const outDir = join(root, "out");
    mkdirSync(outDir);
    const down = await traced(["cp", "vm1:/tmp/tree", outDir, "--json"]);
    assert.equal(down.code, 0, down.stderr);
    viaDaemon(down);
    assert.deepEqual(JSON.parse(down.stdout), {
      files: 3,
      dirs: 2,
      bytes: 4 + 18 + 300_000,
      skipped: 0,
      target: join(outDir, "tree"),
      direction: "from_guest",
      vm: "vm1",
    });
    assert.deepEqual(treeManifest(join(outDir, "tree")), treeManifest(tree));
  });

  test("refusals read the same, with the same exit status, through the daemon and directly", async () => {
    const file = join(root, "small.txt");
    writeFileSync(file, "small\n");
    mkdirSync(join(root, "out2"), { recursive: true });
    const cases: [string, string[], number, RegExp][] = [
      [
        "a device",
        ["cp", "vm1:/dev/zero", join(root, "zero")],
        1,
        /not a regular file or a directory \(other\)/,
      ],
      [
        "a missing guest path",
        ["cp", "vm1:/no/such", join(root, "ghost")],
        1,
        /\/no\/such does not exist in the guest/,
      ],
      [
        "a missing guest directory",
        ["cp", file, "vm1:/no/such/dir/x"],
        1,
        /^error: guest agent: .*\(not_found\)$/m,
      ],
      ["a tree already there", ["cp", "vm1:/tmp/tree", join(root, "out")], 1, /already exists$/m],
      ["a missing VM", ["cp", file, "nope:/tmp/x"], 1, /^error: no VM named nope$/m],
      ["a relative guest path", ["cp", file, "vm1:tmp/x"], 2, /must be absolute/],
    ];
    for (const [what, args, code, message] of cases) {
      const through = await traced(args);
      const direct = await cli([...args, "--no-daemon"]);
      assert.equal(through.code, code, `${what}: ${through.stderr}`);
      assert.match(through.stderr, message, what);
      if (code !== 2) viaDaemon(through);
      assert.deepEqual([through.code, through.stderr], [direct.code, direct.stderr], what);
      assert.ok(!through.stderr.includes("    at "), `${what}: no stack trace`);
    }
  });

  test("files/mkdir, files/rename and logs over plain HTTP: bad parameters refused with a stable code", async () => {
    const to = { socket: daemon.socket };
    const refusals: [string, string, string][] = [
      ["POST", "/v1/vms/vm1/files/rename?path=/tmp/a", "the to query parameter is required"],
      ["POST", "/v1/vms/vm1/files/rename?path=/tmp/a&to=tmp/b", "to must be an absolute guest path"],
      ["POST", "/v1/vms/vm1/files/mkdir?path=/tmp/a&mode=99999", "mode must be an integer from 0 to 4095"],
      ["POST", "/v1/vms/vm1/files/mkdir?path=/tmp/a&parents=maybe", "parents must be true or false"],
      ["GET", "/v1/vms/vm1/logs?follow=maybe", "follow must be true or false"],
    ];
    for (const [method, path, message] of refusals) {
      const r = await http(to, method, path);
      assert.equal(r.status, 400, path);
      assert.deepEqual(r.json(), { error: { code: "invalid_request", message } }, path);
    }
    const ghost = await http(to, "GET", "/v1/vms/nope/logs");
    assert.equal(ghost.status, 404);
    assert.equal(errorCode(ghost), "vm_not_found");
    const made = await http(to, "POST", "/v1/vms/vm1/files/mkdir?path=/tmp/made/deep&parents=true&mode=448");
    assert.equal(made.status, 204);
    const moved = await http(to, "POST", "/v1/vms/vm1/files/rename?path=/tmp/made&to=/tmp/moved");
    assert.equal(moved.status, 204);
    const st = await http(to, "GET", "/v1/vms/vm1/files/stat?path=/tmp/moved/deep");
    assert.equal(st.status, 200);
    assert.deepEqual([st.json().kind, st.json().mode], ["dir", 0o700]);
    const again = await http(to, "POST", "/v1/vms/vm1/files/rename?path=/tmp/made&to=/tmp/moved2");
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), "guest_not_found");
  });

  test("logs through the daemon: the same sanitised and --raw output as directly; a missing VM", async () => {
    const put = await cli([
      "exec",
      "vm1",
      "--",
      "sh",
      "-c",
      "printf 'marker-one \\033[31mred\\033[0m \\033]0;title\\007\\n' > /dev/console",
    ]);
    assert.equal(put.code, 0, put.stderr);
    await waitFor("the marker in the console log", () =>
      readFileSync(logPath, "latin1").includes("marker-one"),
    );
    const through = await traced(["logs", "vm1"]);
    assert.equal(through.code, 0, through.stderr);
    assert.ok(
      !through.modules.includes("src/hypervisor/keeper/console-log.js"),
      "the CLI read no log itself",
    );
    assert.ok(through.modules.includes("src/sdk/transport.js"));
    assert.match(through.stdout, /marker-one \\x1b\[31mred\\x1b\[0m \\x1b\]0;title\\x07\n/);
    assert.equal(
      /[\u0000-\u0008\u000b-\u001f\u007f]/.test(through.stdout),
      false,
      "no raw control character",
    );
    const direct = await cli(["logs", "vm1", "--no-daemon"]);
    assert.equal(direct.code, 0);
    assert.equal(through.stdout, direct.stdout);

    const raw = await traced(["logs", "vm1", "--raw"]);
    assert.match(raw.stdout, /marker-one \u001b\[31mred\u001b\[0m/, "--raw prints the bytes as they are");
    assert.equal(raw.stdout, (await cli(["logs", "vm1", "--raw", "--no-daemon"])).stdout);

    const missing = await traced(["logs", "nope"]);
    const missingDirect = await cli(["logs", "nope", "--no-daemon"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: no VM named nope$/m);
    assert.deepEqual([missing.code, missing.stderr], [missingDirect.code, missingDirect.stderr]);
  });

  test("SDK vm.logs({ follow }): new output arrives; leaving the loop stops the daemon's reading", async () => {
    const vm = await new Mvm({ socket: daemon.socket }).get("vm1");
    let seen = "";
    for await (const chunk of vm.logs()) seen += chunk.toString("latin1");
    assert.match(seen, /marker-one/);

    const pid = daemon.child.pid as number;
    assert.equal(reads(pid, logPath), false, "nothing follows the log yet");
    let followed = "";
    const following = (async () => {
      for await (const chunk of vm.logs({ follow: true })) {
        followed += chunk.toString("latin1");
        if (followed.includes("marker-two")) break;
      }
    })();
    await waitFor("the daemon to hold the console log open", () => reads(pid, logPath), 30_000);
    await cli(["exec", "vm1", "--", "sh", "-c", "echo marker-two > /dev/console"]);
    await following;
    assert.match(followed, /marker-one[\s\S]*marker-two/);
    await waitFor("the daemon to let go of the console log", () => !reads(pid, logPath), 10_000);
  });

  test("logs -f through the daemon prints new output, lets go when killed, and ends with the VM", async () => {
    const pid = daemon.child.pid as number;
    const follow = (onOut?: (s: string) => void) => {
      const child = spawn(process.execPath, [CLI, "logs", "-f", "vm1"], {
        env: { ...process.env, ...accel, NO_COLOR: "1", MVM_DATA_DIR: data },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => onOut?.(d));
      const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
      return { child, exited };
    };

    let out = "";
    const first = follow((d) => {
      out += d;
    });
    await waitFor("the daemon to follow the console log", () => reads(pid, logPath), 30_000);
    await cli(["exec", "vm1", "--", "sh", "-c", "printf 'marker-three \\033[2J\\n' > /dev/console"]);
    await waitFor("logs -f to print the new line", () => out.includes("marker-three"), 30_000);
    assert.match(out, /marker-three \\x1b\[2J\n/);
    assert.equal(reads(first.child.pid as number, logPath), false, "the CLI does not read the log itself");
    first.child.kill("SIGTERM");
    await first.exited;
    await waitFor("the daemon to stop following for a client that left", () => !reads(pid, logPath), 10_000);

    const second = follow();
    await waitFor("the daemon to follow the console log again", () => reads(pid, logPath), 30_000);
    const down = await cli(["down", "vm1"]);
    assert.equal(down.code, 0, down.stderr);
    const ended = await Promise.race([
      second.exited,
      new Promise((r) => setTimeout(() => r("still following"), 20_000)),
    ]);
    second.child.kill("SIGKILL");
    assert.equal(ended, 0, "logs -f ends when the VM is gone");
    assert.equal(reads(pid, logPath), false);
  });
});
