import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, tempDir } from "../helpers/cli.js";
import { GuestChannel } from "../../src/guest/channel.js";
import { pidAlive } from "../../src/host/process.js";
import { createOfflineTemplate } from "../helpers/offline-template.js";
import { freePort } from "../helpers/qemu-boot.js";
import { cliFor, readJson, sha256 } from "../helpers/scratch.js";
import { waitFor } from "../helpers/wait.js";

// The run side end to end on QEMU (TCG), with templates built offline by the real `template build`:
// a snapshot is taken once and shared by every test below. Cold boots are the expensive part here
// (tens of seconds under TCG), so only four happen: the snapshot, --cold, a fingerprint mismatch
// and a health check that never passes.

interface UpJson {
  name: string;
  backend: string;
  mode: "restore" | "cold";
  ready_ms: number;
  ports: Array<{ host: number; guest: number; host_address: string }>;
  pid: number;
}

async function httpStatus(port: number): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
  await r.arrayBuffer();
  return r.status;
}

describe("run and snapshot on QEMU", () => {
  const root = tempDir("mvm-vm-run-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const cli = cliFor(data);
  const started: number[] = [];
  let revDir = "";

  before(async () => {
    await createOfflineTemplate(cli, { data, proj, name: "web", preset: "http", memMib: 256, cpus: 1 });
  });

  after(async () => {
    await cli(["down", "--all"]);
    for (const pid of started) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
    await rm(root, { recursive: true, force: true });
  });

  test("build --snapshot saves the VM into the revision and records a fingerprint", async () => {
    const r = await cli(["template", "build", "web", "--snapshot", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      dir: string;
      snapshot: Record<string, unknown> & { prepared?: { dropped_caches: boolean; compacted: boolean } };
    };
    revDir = out.dir;
    // The guest freed its clean caches and compacted its memory just before the pause.
    assert.equal(out.snapshot.prepared?.dropped_caches, true, JSON.stringify(out.snapshot.prepared));
    assert.equal(typeof out.snapshot.prepared?.compacted, "boolean");
    const snapDir = join(revDir, "snapshot");
    assert.deepEqual(readdirSync(snapDir).sort(), ["disk.qcow2", "mem.bin", "vmstate.bin"]);
    for (const f of readdirSync(snapDir)) assert.equal(statSync(join(snapDir, f)).mode & 0o777, 0o600, f);
    const rev = readJson<{ snapshot: Record<string, unknown> & { fingerprint: Record<string, unknown> } }>(
      join(revDir, "revision.json"),
    );
    const snap = rev.snapshot;
    assert.equal(snap.backend, "qemu");
    assert.equal(snap.mem_mib, 256);
    assert.equal(snap.vcpus, 1);
    assert.equal(snap.mem_size_bytes, 256 * 1024 * 1024);
    assert.ok(
      (snap.mem_allocated_bytes as number) < (snap.mem_size_bytes as number),
      "memory file is sparse",
    );
    assert.equal(snap.fingerprint.rootfs_sha256, sha256(join(revDir, "rootfs.ext4")));
    assert.equal(snap.fingerprint.mem_mib, 256);
    assert.equal(snap.fingerprint.backend, "qemu");
    // verify covers the snapshot: checksums.json lists its files with their real hashes.
    const sums = readJson<{ files: Record<string, string> }>(join(revDir, "checksums.json")).files;
    for (const f of ["snapshot/vmstate.bin", "snapshot/mem.bin", "snapshot/disk.qcow2"])
      assert.equal(sums[f], sha256(join(revDir, f)), f);
    // The temporary VM is gone: no VM directory, no process.
    assert.deepEqual(
      readdirSync(join(data, "vms")).filter((e) => !e.startsWith(".kvm-probe")),
      [],
    );
    // A second build keeps the matching snapshot instead of booting again.
    const again = await cli(["template", "build", "web", "--snapshot", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { snapshot: { reused: boolean } }).snapshot.reused, true);
  });

  test("up -d restores; the service answers through the forwarded port as soon as it returns", async () => {
    const port = await freePort();
    const r = await cli(["up", "--template", "web", "--name", "one", "-d", "-p", `${port}:8080`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const up = JSON.parse(r.stdout) as UpJson;
    started.push(up.pid);
    assert.equal(up.mode, "restore");
    assert.equal(up.backend, "qemu");
    assert.equal(up.name, "one");
    assert.deepEqual(up.ports, [{ host: port, guest: 8080, host_address: "127.0.0.1" }]);
    assert.ok(pidAlive(up.pid));
    assert.equal(await httpStatus(port), 200);

    // A second VM of the same template, side by side, on its own port.
    const port2 = await freePort();
    const r2 = await cli([
      "up",
      "--template",
      "web",
      "--name",
      "two",
      "-d",
      "-p",
      `${port2}:8080`,
      "--json",
      "--timings",
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const up2 = JSON.parse(r2.stdout) as UpJson & { timings: { phase: string; ms: number }[] };
    // --timings: the restore's phases, in order, each measured, adding up to the total.
    assert.deepEqual(
      up2.timings.map((t) => t.phase),
      [
        "cli_load",
        "template_resolve",
        "backend_select",
        "image_load",
        "snapshot_check",
        "vm_dir",
        "vmm_spawn",
        "qmp_ready",
        "incoming_migration",
        "resume",
        "vm_record",
        "agent_connect",
        "post_restore",
        "readiness",
        "ready_record",
        "detach",
      ],
    );
    for (const t of up2.timings) assert.ok(t.ms >= 0 && Number.isFinite(t.ms), JSON.stringify(t));
    // The TCG translation cache is sized on QEMU's command line.
    assert.match(readFileSync(`/proc/${up2.pid}/cmdline`, "utf8"), /\0-accel\0tcg,tb-size=32\0/);
    started.push(up2.pid);
    assert.equal(up2.mode, "restore");
    assert.notEqual(up2.pid, up.pid);
    assert.equal(await httpStatus(port2), 200);
    assert.equal(await httpStatus(port), 200);

    const ls = JSON.parse((await cli(["ls", "--json"])).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      ls.map((v) => [v.name, v.template, v.mode, v.state]),
      [
        ["one", "web", "restore", "running"],
        ["two", "web", "restore", "running"],
      ],
    );
    // The revision in vm.json is what `template prune` relies on to keep it.
    assert.equal(ls[0]?.revision, revDir.split("/").pop());

    const logs = await cli(["logs", "one"]);
    assert.equal(logs.code, 0, logs.stderr);

    // Each restored copy got its own identity in the post-restore request.
    const hostnames: string[] = [];
    for (const v of ls) {
      const ch = await GuestChannel.connectUnix(v.guest_channel as string, { connectRetryMs: 5000 });
      hostnames.push((await ch.ping()).hostname);
      ch.close();
    }
    // Each restored copy is named after its VM.
    assert.deepEqual(hostnames, ["one", "two"]);

    // A host port in use fails the start with a clear error and leaves nothing behind.
    const taken = await cli(["up", "--template", "web", "--name", "clash", "-d", "-p", `${port}:8080`]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /^error: .*host port already in use/m);
    assert.equal(existsSync(join(data, "vms", "clash")), false);

    // A name in use is refused and leaves the running VM alone.
    const dup = await cli(["up", "--template", "web", "--name", "one", "-d"]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^error: a VM named one already exists/m);
    assert.ok(pidAlive(up.pid));

    // logs -f follows until the VM is gone.
    const follow = spawn(process.execPath, [CLI, "logs", "-f", "one"], {
      env: { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" },
      stdio: "ignore",
    });
    const followExit = new Promise<number | null>((res) => follow.on("exit", (c) => res(c)));
    // It follows once it holds the VM's console log open (the VM must still exist when it starts).
    const vmDir = join(data, "vms", "one");
    await waitFor(
      "logs -f to open the console log",
      () => {
        try {
          return readdirSync(`/proc/${follow.pid}/fd`).some((fd) => {
            try {
              return readlinkSync(`/proc/${follow.pid}/fd/${fd}`).startsWith(`${vmDir}/`);
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      },
      30_000,
    );

    // down stops the process and removes its files.
    const down = await cli(["down", "one"]);
    assert.equal(down.code, 0, down.stderr);
    await waitFor("QEMU of 'one' to exit", () => !pidAlive(up.pid), 10_000);
    assert.equal(existsSync(join(data, "vms", "one")), false);
    await assert.rejects(httpStatus(port));
    const followed = await Promise.race([
      followExit,
      new Promise((r) => setTimeout(() => r("still running"), 10_000)),
    ]);
    follow.kill("SIGKILL");
    assert.equal(followed, 0, "logs -f ends when the VM is gone");
    const all = await cli(["down", "--all"]);
    assert.equal(all.code, 0, all.stderr);
    await waitFor("QEMU of 'two' to exit", () => !pidAlive(up2.pid), 10_000);
    assert.equal(existsSync(join(data, "vms", "two")), false);
  });

  test("--cold boots from scratch even though a snapshot exists", async () => {
    const port = await freePort();
    const r = await cli([
      "up",
      "--template",
      "web",
      "--name",
      "cold",
      "-d",
      "--cold",
      "-p",
      `${port}:8080`,
      "--json",
      "--timings",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const up = JSON.parse(r.stdout) as UpJson & { timings: { phase: string }[] };
    started.push(up.pid);
    assert.equal(up.mode, "cold");
    // --timings: a cold boot's phases end with the guest's boot, its clock and its health checks.
    assert.deepEqual(up.timings.map((t) => t.phase).slice(-6), [
      "agent_connect",
      "guest_boot",
      "clock_sync",
      "readiness",
      "ready_record",
      "detach",
    ]);
    assert.match(r.stderr, /Cold boot: --cold was given/);
    assert.equal(await httpStatus(port), 200);
    const logs = await cli(["logs", "cold"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /\[init\]/, "the console log holds the guest's boot output");
    assert.equal((await cli(["down", "cold"])).code, 0);
    await waitFor("QEMU to exit", () => !pidAlive(up.pid), 10_000);
  });

  test("a fingerprint mismatch (--mem) falls back to a cold boot and says why", async () => {
    const r = await cli(["up", "--template", "web", "--name", "bigger", "-d", "--mem", "384", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const up = JSON.parse(r.stdout) as UpJson;
    started.push(up.pid);
    assert.equal(up.mode, "cold");
    const reasons = r.stderr.split("\n").filter((l) => l.includes("Cold boot:"));
    assert.equal(reasons.length, 1);
    assert.match(reasons[0] ?? "", /mem_mib: snapshot has 256, now 384/);
    const rec = readJson<{ mode: string; cold_reason: string; mem_mib: number }>(
      join(data, "vms", "bigger", "vm.json"),
    );
    assert.equal(rec.mem_mib, 384);
    assert.match(rec.cold_reason, /mem_mib/);
    assert.equal((await cli(["down", "bigger"])).code, 0);
    await waitFor("QEMU to exit", () => !pidAlive(up.pid), 10_000);
  });

  test("a SIGKILLed foreground up leaves no process and no files", async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [CLI, "up", "--template", "web", "--name", "killed"],
      {
        env: { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" },
        stdio: "ignore",
      },
    );
    const vmJson = join(data, "vms", "killed", "vm.json");
    let qemuPid = 0;
    await waitFor(
      "the VM's process",
      () => {
        try {
          qemuPid = (JSON.parse(readFileSync(vmJson, "utf8")) as { pid: number }).pid;
        } catch {
          qemuPid = 0;
        }
        return qemuPid > 0;
      },
      60_000,
    );
    child.kill("SIGKILL");
    await waitFor("QEMU to die with mvmctl", () => !pidAlive(qemuPid), 10_000);
    await waitFor("the VM directory to go", () => !existsSync(join(data, "vms", "killed")), 10_000);
  });

  test("Ctrl-C stops a foreground VM and removes it", async () => {
    const child = spawn(process.execPath, [CLI, "up", "--template", "web", "--name", "fg"], {
      env: { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.stdout?.resume();
    await waitFor("the VM to be ready", () => /is ready \(restore/.test(stderr), 120_000).catch((e) => {
      child.kill("SIGKILL");
      throw new Error(`${(e as Error).message}; mvmctl said:\n${stderr}`);
    });
    const pid = readJson<{ pid: number }>(join(data, "vms", "fg", "vm.json")).pid;
    const exited = new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    child.kill("SIGINT");
    assert.equal(await exited, 130);
    assert.equal(pidAlive(pid), false);
    assert.equal(existsSync(join(data, "vms", "fg")), false);
  });

  test("a health check that never passes fails --snapshot clearly and leaves nothing behind", async () => {
    const flake = join(proj, "web");
    const bad = join(proj, "bad");
    mkdirSync(bad);
    const text = readFileSync(join(flake, "flake.nix"), "utf8").replace(
      /healthCmd = "[^"]*";/,
      'healthCmd = "echo broken on purpose; exit 3";',
    );
    assert.match(text, /broken on purpose/);
    writeFileSync(join(bad, "flake.nix"), text);
    assert.equal(
      (await cli(["template", "create", "bad", "--flake", bad, "--mem", "256", "--cpus", "1"])).code,
      0,
    );
    const r = await cli(["template", "build", "bad", "--snapshot", "--ready-timeout", "60"]);
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(
      errors[0] ?? "",
      /health checks did not pass within 60 s: web \(unhealthy: exit code 3: broken on purpose\)/,
    );
    // The image-only revision stays, without a snapshot; the temporary VM is gone.
    const info = JSON.parse((await cli(["template", "info", "bad", "--json"])).stdout) as {
      revision: { snapshot: unknown };
      revision_dir: string;
    };
    assert.equal(info.revision.snapshot, null);
    assert.equal(existsSync(join(info.revision_dir, "snapshot")), false);
    assert.deepEqual(
      readdirSync(info.revision_dir).filter((f) => f.startsWith(".")),
      [],
      "no staging directory left",
    );
    assert.deepEqual(
      readdirSync(join(data, "vms")).filter((e) => !e.startsWith(".kvm-probe")),
      [],
    );
    const procs = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
    const leftovers = procs.filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("mvm-snapshot-bad-");
      } catch {
        return false;
      }
    });
    assert.deepEqual(leftovers, []);
  });
});
