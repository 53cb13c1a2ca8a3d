import assert from "node:assert/strict";
import { existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GuestChannel } from "../../src/guest/channel.js";
import { readJson } from "../helpers/scratch.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { pidAlive, sleep } from "../../src/host/process.js";
import { createOfflineTemplate } from "../helpers/offline-template.js";

// What `up` does with a template's snapshot when the template or the snapshot changed since it was
// taken, on QEMU (TCG) with a template built and snapshotted by the real CLI once. The guest's
// health check ends with `date +%s`, so every fresh health report carries the guest's clock. Boots:
// the snapshot, a cold boot after `edit --mem` and the cold boot a failed restore falls back to.

interface UpJson {
  name: string;
  mode: "restore" | "cold";
  pid: number;
}

interface VmJson {
  mode: string;
  cold_reason?: string;
  mem_mib: number;
  guest_channel: string;
}

describe("up: restore or cold boot, and the guest's clock", () => {
  const root = tempDir("mvm-vm-restore-or-cold-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  // A loaded 2-core machine under TCG: a build with its snapshot boot can take minutes.
  const cli = (args: string[]) => runCli(args, { dataDir: data, timeoutMs: 900_000 });
  const started: number[] = [];
  let revDir = "";

  /** Seconds between the guest's `date +%s` (run now, by a fresh health check) and the host's. */
  async function clockSkew(vm: string): Promise<number> {
    const rec = readJson<VmJson>(join(data, "vms", vm, "vm.json"));
    const ch = await GuestChannel.connectUnix(rec.guest_channel, { connectRetryMs: 5000, timeoutMs: 60_000 });
    try {
      const h = await ch.health({ fresh: true, timeoutMs: 60_000 });
      const host = Date.now() / 1000;
      const detail = h.checks[0]?.detail ?? "";
      assert.match(detail, /^\d+$/, `the health check printed the guest's date: ${JSON.stringify(h.checks)}`);
      return Number(detail) - host;
    } finally {
      ch.close();
    }
  }

  async function up(args: string[]) {
    const r = await cli(["up", "--template", "web", "-d", "--json", ...args]);
    if (r.code === 0) started.push((JSON.parse(r.stdout) as UpJson).pid);
    return r;
  }

  before(async () => {
    await createOfflineTemplate(cli, {
      data,
      proj,
      name: "web",
      preset: "http",
      memMib: 256,
      cpus: 1,
      editFlake: (text) => {
        const edited = text.replace(/healthCmd = "([^"]*)";/, 'healthCmd = "$1 && date +%s";');
        assert.match(edited, /&& date \+%s";/);
        return edited;
      },
    });
    const build = await cli(["template", "build", "web", "--snapshot", "--json"]);
    assert.equal(build.code, 0, build.stderr);
    revDir = (JSON.parse(build.stdout) as { dir: string }).dir;
  });

  after(async () => {
    await cli(["down", "--all"]);
    for (const pid of started) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
    await rm(root, { recursive: true, force: true });
  });

  test("after edit --mem, up cold-boots at the new size and says why; the cold guest has the host's clock", async () => {
    const edit = await cli(["template", "edit", "web", "--mem", "320"]);
    assert.equal(edit.code, 0, edit.stderr);
    assert.match(edit.stderr, /'mvmctl up' cold-boots web at the new size/);
    const r = await up(["--name", "sized"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as UpJson).mode, "cold");
    const reasons = r.stderr.split("\n").filter((l) => l.includes("Cold boot:"));
    assert.equal(reasons.length, 1, r.stderr);
    assert.match(reasons[0] ?? "", /sizing changed since its snapshot was taken \(memory 256 → 320 MiB\)/);
    const rec = readJson<VmJson>(join(data, "vms", "sized", "vm.json"));
    assert.equal(rec.mem_mib, 320);
    const skew = await clockSkew("sized");
    assert.ok(Math.abs(skew) <= 5, `cold guest clock is ${skew.toFixed(1)} s off the host's`);
    assert.equal((await cli(["down", "sized"])).code, 0);
    // Back to the snapshot's size: restores again (checked by the next test).
    assert.equal((await cli(["template", "edit", "web", "--mem", "256"])).code, 0);
  });

  test("a restored guest's clock is the host's now, not the snapshot's", async () => {
    const taken = Date.parse(
      readJson<{ snapshot: { created_at: string } }>(join(revDir, "revision.json")).snapshot.created_at,
    );
    // The snapshot must be older than the tolerance, or a guest clock stuck at it would pass.
    const age = Date.now() - taken;
    if (age < 20_000) await sleep(20_000 - age);
    const r = await up(["--name", "r1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as UpJson).mode, "restore");
    const skew = await clockSkew("r1");
    assert.ok(Math.abs(skew) <= 5, `restored guest clock is ${skew.toFixed(1)} s off the host's`);
  });

  test("template delete refuses while a VM runs from the template, naming it", async () => {
    const r = await cli(["template", "delete", "web", "-y"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: template web is in use by VM r1$/m);
    assert.match(r.stderr, /mvmctl down/);
    assert.ok(existsSync(join(data, "templates", "web", "template.json")));
    const r1 = readJson<{ pid: number }>(join(data, "vms", "r1", "vm.json"));
    assert.ok(pidAlive(r1.pid), "the VM is left running");
  });

  test("a damaged snapshot is caught before restoring: sizes and the device state's digest", async () => {
    const snap = join(revDir, "snapshot");
    // Files are replaced, never written in place: the running VM r1 maps mem.bin.
    const vmstate = readFileSync(join(snap, "vmstate.bin"));
    const flipped = Buffer.from(vmstate);
    flipped[flipped.length >> 1] = (flipped[flipped.length >> 1] ?? 0) ^ 0xff;
    writeFileSync(join(snap, "vmstate.bin.new"), flipped);
    renameSync(join(snap, "vmstate.bin.new"), join(snap, "vmstate.bin"));
    let r = await up(["--name", "dmg", "--no-fallback"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: cannot restore web: the snapshot is damaged: snapshot\/vmstate\.bin does not match its SHA-256 in checksums\.json$/m,
    );
    assert.equal(existsSync(join(data, "vms", "dmg")), false);
    writeFileSync(join(snap, "vmstate.bin.new"), vmstate);
    renameSync(join(snap, "vmstate.bin.new"), join(snap, "vmstate.bin"));

    renameSync(join(snap, "mem.bin"), join(snap, "mem.bin.orig"));
    writeFileSync(join(snap, "mem.bin"), Buffer.alloc(4096));
    r = await up(["--name", "dmg", "--no-fallback"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: cannot restore web: the snapshot is damaged: snapshot\/mem\.bin holds 4096 bytes, revision\.json says 268435456$/m,
    );
    assert.equal(existsSync(join(data, "vms", "dmg")), false);
  });

  test("a restore that fails before the guest is ready: --no-fallback keeps its console log, else a cold boot says why", async () => {
    const snap = join(revDir, "snapshot");
    // Right size, wrong contents (all zeros): only the restore itself can tell.
    writeFileSync(join(snap, "mem.bin"), "");
    truncateSync(join(snap, "mem.bin"), 256 * 1024 * 1024);
    const failed = await up(["--name", "broken", "--no-fallback", "--ready-timeout", "60"]);
    assert.equal(failed.code, 1, failed.stderr);
    const errors = failed.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, failed.stderr);
    // QEMU dies loading the state (its log says why) or the guest dies after it (its console).
    const hint = /(?:Its console|QEMU's log): (\S+)/.exec(failed.stderr);
    assert.ok(hint?.[1], `the error names a log: ${failed.stderr}`);
    assert.ok(hint[1].startsWith(join(data, "logs")), hint[1]);
    assert.ok(existsSync(hint[1]), `${hint[1]} exists after the failed start`);
    assert.equal(existsSync(join(data, "vms", "broken")), false);

    const r = await up(["--name", "fell", "--ready-timeout", "180"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as UpJson).mode, "cold");
    const reasons = r.stderr.split("\n").filter((l) => l.includes("Cold boot:"));
    assert.equal(reasons.length, 1, r.stderr);
    assert.match(
      reasons[0] ?? "",
      /Cold boot: restoring the snapshot failed \(.+\); (Its console|QEMU's log): \S+/,
    );
    const kept = /(?:Its console|QEMU's log): (\S+)/.exec(reasons[0] ?? "")?.[1] ?? "";
    assert.ok(kept.startsWith(join(data, "logs")), kept);
    assert.ok(existsSync(kept), `${kept} exists`);
    assert.match(
      readJson<VmJson>(join(data, "vms", "fell", "vm.json")).cold_reason ?? "",
      /restoring the snapshot failed/,
    );
    assert.equal((await cli(["down", "fell"])).code, 0);
  });

  test("template delete --force stops the template's VMs, then deletes it", async () => {
    const r1 = readJson<{ pid: number }>(join(data, "vms", "r1", "vm.json"));
    const r = await cli(["template", "delete", "web", "--force", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { deleted: "web", stopped_vms: ["r1"] });
    assert.equal(pidAlive(r1.pid), false);
    assert.equal(existsSync(join(data, "templates", "web")), false);
    const ls = await cli(["ls", "--json"]);
    assert.deepEqual(JSON.parse(ls.stdout), []);
  });
});
