import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { GuestEndpoint } from "../../src/guest/endpoint.js";
import { GuestChannel, GuestError } from "../../src/guest/channel.js";
import { waitReady } from "../../src/guest/readiness.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { startHostAgent } from "../helpers/host-agent.js";

// Readiness against the real agent binary run on this host: a service that comes up after the
// agent's first check (a cold boot) is ready as soon as it is, not a check interval later; and an
// agent outside a guest refuses prepare_snapshot instead of dropping this host's caches.

const work = mkdtempSync(join(tmpdir(), "mvm-ready-"));
const sock = join(work, "agent.sock");
const marker = join(work, "service-up");
let agent: ChildProcess;

before(async () => {
  const kit = await ensureTestKit();
  const d = join(work, "cfg", "checks", "service");
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "cmd"), `test -f '${marker}'`);
  // Far longer than the wait below: only a check run on request can see the service come up.
  writeFileSync(join(d, "interval"), "600\n");
  writeFileSync(join(d, "timeout"), "5\n");
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

function fakeVm(): GuestEndpoint {
  return {
    name: "ready-test",
    guestChannel: sock,
    consoleLog: join(work, "console.log"),
    processAlive: () => agent.exitCode === null,
    guestNetwork: () => undefined,
  };
}

test("a check that fails first and passes later makes the VM ready without waiting for its interval", async () => {
  const progress: string[] = [];
  const phases: string[] = [];
  // The service comes up once the wait has seen the check fail.
  const up = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (progress.some((m) => m.startsWith("waiting for health checks: service"))) {
        clearInterval(t);
        writeFileSync(marker, "");
        resolve();
      }
    }, 50);
  });
  const r = await waitReady(fakeVm(), {
    timeoutMs: 60_000,
    onProgress: (m) => progress.push(m),
    mark: (p) => phases.push(p),
  });
  await up;
  assert.equal(r.health.ready, true);
  assert.equal(r.health.checks[0]?.healthy, true);
  assert.deepEqual(phases, ["agent_connect", "guest_boot", "readiness"]);
});

test("an agent outside a guest refuses prepare_snapshot", async () => {
  const ch = await GuestChannel.connectUnix(sock, { connectRetryMs: 5000, timeoutMs: 5000 });
  try {
    await assert.rejects(
      ch.request("prepare_snapshot"),
      (e: unknown) =>
        e instanceof GuestError && e.code === "unsupported" && /only inside a guest/.test(e.message),
    );
  } finally {
    ch.close();
  }
});
