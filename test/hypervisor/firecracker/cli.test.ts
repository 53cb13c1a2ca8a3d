// End to end through mvmctl with `--hypervisor firecracker`, the wire-level fake standing in for
// Firecracker and its guest: a template revision is snapshotted on Firecracker, then `up` restores
// it (and `--cold` boots it), `ls` lists the VMs, `down --all` leaves no process behind.

import assert from "node:assert/strict";
import { accessSync, constants, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { TemplateStore } from "../../../src/store/templates.js";
import { FirecrackerBackend } from "../../../src/hypervisor/firecracker/backend.js";
import { snapshotTemplate } from "../../../src/vm/snapshot.js";
import { runCli } from "../../helpers/cli.js";
import { templateFromImages } from "../../helpers/template.js";
import { FAKE_SCRIPT, fixture, processesMentioning } from "./helpers.js";

const fx = fixture();
const dataDir = fx.paths.root;
const env = {
  MVM_FIRECRACKER_BIN: fx.bin,
  MVM_FIRECRACKER_NETWORK: "none",
  FAKE_FC_NODE: process.execPath,
  FAKE_FC_SCRIPT: FAKE_SCRIPT,
  FAKE_FC_LOG: fx.log,
};
after(async () => {
  await runCli(["down", "--all"], { dataDir, env }).catch(() => {});
  rmSync(fx.root, { recursive: true, force: true });
});

/** A template whose current revision is the fixture's ELF kernel and rootfs (no nix needed). */
async function makeTemplate(name: string): Promise<void> {
  await templateFromImages(fx.paths, name, { kernel: fx.kernel, rootfs: fx.rootfs });
}

// The backend refuses to run without a readable and writable /dev/kvm, fake or not.
function kvmAccessible(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

test("snapshot on Firecracker, then up restores it, --cold boots, down --all leaves nothing", {
  skip: kvmAccessible()
    ? false
    : "needs a readable and writable /dev/kvm (the fake is probed like Firecracker)",
}, async () => {
  await makeTemplate("fcweb");
  const backend = new FirecrackerBackend({
    paths: fx.paths,
    network: "none",
    env: { ...process.env, ...env },
  });
  const out = await snapshotTemplate(new TemplateStore(fx.paths), fx.paths, backend, "fcweb", {
    readyTimeoutMs: 60_000,
  });
  assert.equal(out.snapshot.backend, "firecracker");
  assert.equal(out.snapshot.fingerprint?.backend_version, "1.12.1");

  const up = await runCli(["up", "--template", "fcweb", "--hypervisor", "firecracker", "-d", "--json"], {
    dataDir,
    env,
  });
  assert.equal(up.code, 0, up.stderr);
  const started = JSON.parse(up.stdout) as { name: string; backend: string; mode: string; pid: number };
  assert.equal(started.backend, "firecracker");
  assert.equal(started.mode, "restore", up.stderr);
  const load = fx.requests().filter((r) => r.path === "/snapshot/load");
  assert.equal(load.length, 1);
  assert.equal(load[0]?.status, 204);

  const cold = await runCli(
    ["up", "--template", "fcweb", "--hypervisor", "firecracker", "--cold", "-d", "--json"],
    { dataDir, env },
  );
  assert.equal(cold.code, 0, cold.stderr);
  assert.equal(JSON.parse(cold.stdout).mode, "cold");

  const ls = await runCli(["ls", "--json"], { dataDir, env });
  assert.equal(ls.code, 0, ls.stderr);
  const names = (JSON.parse(ls.stdout) as { name: string }[]).map((v) => v.name).sort();
  assert.deepEqual(names, [started.name, JSON.parse(cold.stdout).name].sort());

  const down = await runCli(["down", "--all"], { dataDir, env });
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(processesMentioning(join(dataDir, "vms")), [], "no Firecracker or keeper is left");
});

test("foreground up on Firecracker ends, saying so, when the VM ends by itself", {
  skip: kvmAccessible()
    ? false
    : "needs a readable and writable /dev/kvm (the fake is probed like Firecracker)",
}, async () => {
  await makeTemplate("fcfg");
  let settled = false;
  const run = runCli(["up", "--template", "fcfg", "--hypervisor", "firecracker", "--cold", "--name", "fg"], {
    dataDir,
    env,
    timeoutMs: 90_000,
  }).finally(() => {
    settled = true;
  });
  const vmJson = join(dataDir, "vms", "fg", "vm.json");
  let pid = 0;
  while (!settled && pid === 0) {
    try {
      const rec = JSON.parse(readFileSync(vmJson, "utf8")) as { pid: number; ready_ms?: number };
      if (rec.ready_ms !== undefined) pid = rec.pid;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(pid > 0, "the VM became ready");
  process.kill(pid, "SIGKILL"); // the VM ends without mvmctl asking
  const r = await run;
  assert.equal(r.signal, null, `up did not notice the VM ending: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /VM fg stopped/);
  assert.equal(existsSync(join(dataDir, "vms", "fg")), false, "its directory is gone");
});
