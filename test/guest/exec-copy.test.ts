import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GuestChannel } from "../../src/guest/channel.js";
import { cliFor, sha256, treeManifest, writeSampleTree } from "../helpers/scratch.js";
import { CLI, runCli, tempDir } from "../helpers/cli.js";
import { createOfflineTemplate } from "../helpers/offline-template.js";

// Working inside a running VM on QEMU (TCG), through the CLI a user runs: exec, cp and ps against a
// VM restored by `up -d` and owned by its keeper, so every command here is another process sharing
// the one agent stream. One template is built and snapshotted, one VM restored for the whole file.

const MiB = 1024 * 1024;

interface PsEntry {
  pid: number;
  command: string;
  running: boolean;
  attached: boolean;
}

describe("exec, cp and ps in a VM started by up -d", () => {
  const root = tempDir("mvm-vm-exec-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  // Where /dev/kvm exists but is unusable (nested), the KVM probe can take it for usable under load.
  const accel = { MVM_QEMU_ACCEL: "tcg" };
  const cli = cliFor(data, accel);
  const exec = (args: string[], input?: string) =>
    runCli(["exec", ...args], {
      dataDir: data,
      env: accel,
      timeoutMs: 180_000,
      ...(input !== undefined ? { input } : {}),
    });

  before(async () => {
    await createOfflineTemplate(cli, { data, proj, name: "box", preset: "http", memMib: 512, cpus: 1 });
    const build = await cli(["template", "build", "box", "--snapshot"]);
    assert.equal(build.code, 0, build.stderr);
    const up = await cli(["up", "--template", "box", "--name", "vm_one", "-d", "--json"]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((JSON.parse(up.stdout) as { mode: string }).mode, "restore");
  });

  after(async () => {
    await cli(["down", "--all"]);
    await rm(root, { recursive: true, force: true });
  });

  test("the restored guest is named after its VM and has a fresh machine id", async () => {
    const r = await exec(["vm_one", "--", "sh", "-c", "hostname; cat /etc/machine-id"]);
    assert.equal(r.code, 0, r.stderr);
    const [host, machineId] = r.stdout.trim().split("\n");
    assert.equal(host, "vm-one");
    assert.match(machineId ?? "", /^[0-9a-f]{32}$/);
  });

  test("exit status, stdout and stderr, env, workdir, user, stdin, a terminal, a timeout", async () => {
    const r = await exec(["vm_one", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    const env = await exec([
      "-e",
      "GREETING=hi there",
      "-w",
      "/tmp",
      "-u",
      "0",
      "vm_one",
      "--",
      "sh",
      "-c",
      'echo "$GREETING"; pwd; id -u',
    ]);
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.stdout, "hi there\n/tmp\n0\n");
    const cat = await exec(["-i", "vm_one", "--", "sh", "-c", "cat; echo eof"], "line one\nline two\n");
    assert.equal(cat.stdout, "line one\nline two\neof\n");
    const tty = await exec(["-t", "vm_one", "--", "sh", "-c", "tty; stty size"]);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n24 80\r\n/);
    const slow = await exec(["--timeout", "1", "vm_one", "--", "sleep", "30"]);
    assert.equal(slow.code, 124);
    assert.match(slow.stderr, /longer than 1s/);
    const missing = await exec(["vm_one", "--", "/no/such/program"]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^error: guest agent: cannot start \/no\/such\/program: No such file or directory \(not_found\)$/m,
    );
    const noVm = await exec(["nope", "--", "true"]);
    assert.equal(noVm.code, 1);
    assert.match(noVm.stderr, /^error: no VM named nope$/m);
    const badDir = await exec(["-w", "tmp", "vm_one", "--", "true"]);
    assert.equal(badDir.code, 2);
  });

  test("Ctrl-C (SIGINT to mvmctl) reaches the command", async () => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        "exec",
        "vm_one",
        "--",
        "sh",
        "-c",
        'trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 1; done',
      ],
      {
        env: { ...process.env, ...accel, MVM_DATA_DIR: data, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("ready\n") && !out.includes("sent")) {
        out += "sent";
        child.kill("SIGINT");
      }
    });
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    assert.match(out, /got-int/);
    assert.equal(code, 9);
  });

  test("10 MB of output streamed, and 8 execs at once", async () => {
    const big = await exec(["vm_one", "--", "sh", "-c", "head -c 10485760 /dev/zero | tr '\\0' x"]);
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 10 * MiB);
    assert.ok(/^x+$/.test(big.stdout));
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        exec(["-e", `N=${i}`, "vm_one", "--", "sh", "-c", 'sleep 1; echo "n=$N"; exit $N']),
      ),
    );
    runs.forEach((r, i) => {
      assert.equal(r.code, i, r.stderr);
      assert.equal(r.stdout, `n=${i}\n`);
    });
  });

  test("a command outlives its client and shows in ps", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "exec", "vm_one", "--", "sh", "-c", "echo started; sleep 3; echo done > /tmp/outlived"],
      { env: { ...process.env, ...accel, MVM_DATA_DIR: data }, stdio: ["ignore", "pipe", "ignore"] },
    );
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
    let listed: PsEntry[] = [];
    for (let i = 0; i < 20; i++) {
      const ps = await cli(["ps", "vm_one", "--json"]);
      assert.equal(ps.code, 0, ps.stderr);
      listed = JSON.parse(ps.stdout) as PsEntry[];
      if (listed.some((p) => p.command.includes("outlived") && !p.attached)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const mine = listed.find((p) => p.command.includes("outlived"));
    assert.ok(mine, "listed by ps");
    assert.equal(mine.running, true);
    assert.equal(mine.attached, false);
    const text = await cli(["ps", "vm_one"]);
    assert.match(text.stdout, /^PID\s+UID\s+AGE\s+STATUS\s+ATTACHED\s+COMMAND$/m);
    await new Promise((r) => setTimeout(r, 3500));
    const after = await exec(["vm_one", "--", "cat", "/tmp/outlived"]);
    assert.equal(after.stdout, "done\n");
  });

  test("cp a 50 MB file both ways, modes kept, SHA-256 equal", async () => {
    const src = join(root, "big.bin");
    writeFileSync(src, randomBytes(50 * MiB));
    chmodSync(src, 0o640);
    const up = await cli(["cp", src, "vm_one:/tmp/big.bin"]);
    assert.equal(up.code, 0, up.stderr);
    const inGuest = await exec([
      "vm_one",
      "--",
      "sh",
      "-c",
      "sha256sum /tmp/big.bin; stat -c %a /tmp/big.bin",
    ]);
    assert.equal(inGuest.stdout, `${sha256(src)}  /tmp/big.bin\n640\n`);
    const back = join(root, "back.bin");
    const down = await cli(["cp", "vm_one:/tmp/big.bin", back, "--json"]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((JSON.parse(down.stdout) as { bytes: number }).bytes, 50 * MiB);
    assert.equal(sha256(back), sha256(src));
    assert.equal(statSync(back).mode & 0o777, 0o640);
    await exec(["vm_one", "--", "rm", "/tmp/big.bin"]);
  });

  test("cp a directory tree in and out: same files, contents and modes", async () => {
    const tree = join(root, "tree");
    writeSampleTree(tree);
    const up = await cli(["cp", tree, "vm_one:/tmp/"]);
    assert.equal(up.code, 0, up.stderr);
    const ran = await exec(["vm_one", "--", "/tmp/tree/a/run.sh"]);
    assert.equal(ran.stdout, "hi\n");
    const outDir = join(root, "out");
    mkdirSync(outDir);
    const down = await cli(["cp", "vm_one:/tmp/tree", outDir]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(treeManifest(join(outDir, "tree")), treeManifest(tree));
    // A second copy onto the same path is refused rather than merged or half-written.
    const again = await cli(["cp", "vm_one:/tmp/tree", outDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: .*already exists$/m);
  });

  test("hostile paths and huge requests fail cleanly; the agent stays healthy", async () => {
    const zero = await cli(["cp", "vm_one:/dev/zero", join(root, "zero")]);
    assert.equal(zero.code, 1);
    assert.match(
      zero.stderr,
      /^error: \/dev\/zero in the guest is not a regular file or a directory \(other\)$/m,
    );
    const rel = await cli(["cp", join(root, "tree"), "vm_one:tmp/x"]);
    assert.equal(rel.code, 2);
    assert.match(rel.stderr, /must be absolute/);
    const both = await cli(["cp", "vm_one:/a", "vm_one:/b"]);
    assert.equal(both.code, 2);
    const ghost = await cli(["cp", "vm_one:/no/such", join(root, "ghost")]);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /^error: \/no\/such does not exist in the guest$/m);
    // An argument list far beyond one frame is refused by the client before it reaches the guest.
    const huge = await exec(["vm_one", "--", "echo", ...Array<string>(3000).fill("x".repeat(100))]);
    assert.equal(huge.code, 2);
    assert.match(huge.stderr, /exceeds 262144/);
    const rec = JSON.parse(readFileSync(join(data, "vms", "vm_one", "vm.json"), "utf8")) as {
      guest_channel: string;
    };
    const ch = await GuestChannel.connectUnix(rec.guest_channel, { timeoutMs: 10_000 });
    try {
      await assert.rejects(ch.request("read", { path: "relative" }), /invalid_path/);
      assert.equal((await ch.health()).ready, true);
    } finally {
      ch.close();
    }
    const fine = await exec(["vm_one", "--", "true"]);
    assert.equal(fine.code, 0);
  });

  test("PID 1 keeps one idle sleep however often it is told to reload (SIGUSR1)", async () => {
    const r = await exec([
      "vm_one",
      "--",
      "sh",
      "-c",
      "for i in 1 2 3; do kill -USR1 1; sleep 1; done; ps -o pid,args | grep -c '[s]leep 3600'",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "1");
  });
});
