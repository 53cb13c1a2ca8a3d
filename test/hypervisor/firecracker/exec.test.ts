// exec, cp and ps on Firecracker, through mvmctl: the wire-level fake stands in for Firecracker and
// its vsock device, and passes every vsock connection to the real agent run on this host, so several
// clients use one VM over connections of their own. A restore tells the guest its new name.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TemplateStore } from "../../../src/store/templates.js";
import { FirecrackerBackend } from "../../../src/hypervisor/firecracker/backend.js";
import { snapshotTemplate } from "../../../src/vm/snapshot.js";
import { sha256 } from "../../helpers/scratch.js";
import { runCli } from "../../helpers/cli.js";
import { ensureTestKit } from "../../helpers/fixtures.js";
import { startHostAgent } from "../../helpers/host-agent.js";
import { FAKE_SCRIPT, fixture, kvmAccessible, templateOfFixture } from "./helpers.js";

const fx = fixture();
const dataDir = fx.paths.root;
const agentSock = join(fx.root, "agent.sock");
const env = {
  MVM_FIRECRACKER_BIN: fx.bin,
  MVM_FIRECRACKER_NETWORK: "none",
  FAKE_FC_NODE: process.execPath,
  FAKE_FC_SCRIPT: FAKE_SCRIPT,
  FAKE_FC_LOG: fx.log,
};
let agent: ChildProcess | undefined;

const skip = kvmAccessible()
  ? false
  : "needs a readable and writable /dev/kvm (the fake is probed like Firecracker)";

before(async () => {
  const kit = await ensureTestKit();
  agent = startHostAgent({
    kitDir: kit.dir,
    configDir: join(fx.root, "agent-cfg"),
    runDir: join(fx.root, "agent-run"),
    socket: agentSock,
  });
});

after(async () => {
  await runCli(["down", "--all"], { dataDir, env }).catch(() => {});
  agent?.kill("SIGTERM");
  rmSync(fx.root, { recursive: true, force: true });
});

test("exec, concurrent execs on separate vsock connections, cp both ways, ps", { skip }, async () => {
  await templateOfFixture(fx, fx.paths, "fcbox");
  const agentEnv = { ...env, FAKE_FC_GUEST_AGENT: agentSock };
  const up = await runCli(
    ["up", "--template", "fcbox", "--hypervisor", "firecracker", "--cold", "--name", "fc1", "-d"],
    {
      dataDir,
      env: agentEnv,
    },
  );
  assert.equal(up.code, 0, up.stderr);
  const cli = (args: string[], input?: string) =>
    runCli(args, { dataDir, env, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });

  const r = await cli(["exec", "fc1", "--", "sh", "-c", "echo out; echo err >&2; exit 5"]);
  assert.equal(r.code, 5);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  const runs = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      cli(["exec", "-e", `N=${i}`, "fc1", "--", "sh", "-c", 'sleep 0.3; echo "n=$N"']),
    ),
  );
  runs.forEach((x, i) => {
    assert.equal(x.stdout, `n=${i}\n`, x.stderr);
  });
  const piped = await cli(["exec", "-i", "fc1", "--", "cat"], "through vsock\n");
  assert.equal(piped.stdout, "through vsock\n");

  const src = join(fx.root, "payload.bin");
  writeFileSync(src, Buffer.alloc(3 * 1024 * 1024 + 5, 7));
  const guestPath = join(fx.root, "in-guest.bin");
  const cpIn = await cli(["cp", src, `fc1:${guestPath}`]);
  assert.equal(cpIn.code, 0, cpIn.stderr);
  assert.equal(sha256(guestPath), sha256(src));
  const back = join(fx.root, "back.bin");
  const cpOut = await cli(["cp", `fc1:${guestPath}`, back]);
  assert.equal(cpOut.code, 0, cpOut.stderr);
  assert.equal(sha256(back), sha256(src));

  const ps = await cli(["ps", "fc1", "--json"]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.ok(Array.isArray(JSON.parse(ps.stdout)));
  const down = await cli(["down", "fc1"]);
  assert.equal(down.code, 0, down.stderr);
});

test("a restore gives the guest the VM's name as hostname and a new machine id", { skip }, async () => {
  await templateOfFixture(fx, fx.paths, "fcsnap");
  const backend = new FirecrackerBackend({
    paths: fx.paths,
    network: "none",
    env: { ...process.env, ...env },
  });
  await snapshotTemplate(new TemplateStore(fx.paths), fx.paths, backend, "fcsnap", {
    readyTimeoutMs: 60_000,
  });
  const up = await runCli(
    ["up", "--template", "fcsnap", "--hypervisor", "firecracker", "--name", "blue_box", "-d", "--json"],
    {
      dataDir,
      env,
    },
  );
  assert.equal(up.code, 0, up.stderr);
  assert.equal(JSON.parse(up.stdout).mode, "restore");
  const posts = fx.requests().filter((r) => r.method === "GUEST" && r.path === "post_restore");
  const identity = (posts.at(-1)?.body?.identity ?? {}) as { hostname?: string; machine_id?: string };
  assert.equal(identity.hostname, "blue-box");
  assert.match(identity.machine_id ?? "", /^[0-9a-f]{32}$/);
});
