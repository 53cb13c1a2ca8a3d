import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { GuestChannel } from "../../src/guest/channel.js";
import { ensureTestKit } from "../helpers/fixtures.js";

// The service supervisor (`mvm-agent supervise NAME`) run on this host as root: a failing preStart
// is retried, an exiting service is restarted with backoff, the state the agent reports follows,
// and SIGTERM stops the whole service process group.

const work = mkdtempSync(join(tmpdir(), "mvm-supervise-"));
const procs: ChildProcess[] = [];

after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  await rm(work, { recursive: true, force: true });
});

test("restart loop: preStart retried until it succeeds, exits restarted with backoff, SIGTERM stops the group", async () => {
  const kit = await ensureTestKit();
  const agent = join(kit.dir, "mvm-agent");
  const cfg = join(work, "cfg");
  const run = join(work, "run");
  const svc = join(cfg, "services", "flaky");
  mkdirSync(join(svc, "env"), { recursive: true });
  mkdirSync(run);
  const out = join(work, "out");
  mkdirSync(out);
  writeFileSync(join(cfg, "path"), "/usr/bin:/bin\n");
  writeFileSync(join(svc, "user"), "root\n");
  writeFileSync(join(svc, "env", "OUT"), out);
  // preStart fails on its first run only; the command exits 7 on its first two runs, then stays up
  // with a child in its process group.
  writeFileSync(join(svc, "preStart"), 'echo x >> "$OUT/pre"; [ "$(wc -l < "$OUT/pre")" -ge 2 ]');
  writeFileSync(
    join(svc, "command"),
    'echo x >> "$OUT/runs"; [ "$(wc -l < "$OUT/runs")" -ge 3 ] || exit 7\nsleep 1000 &\necho $! > "$OUT/child"\nwait',
  );
  const sup = spawn(agent, ["--config-dir", cfg, "--run-dir", run, "supervise", "flaky"], {
    stdio: "ignore",
  });
  procs.push(sup);
  const srv = spawn(
    agent,
    [
      "--config-dir",
      cfg,
      "--run-dir",
      run,
      "--init-pid",
      "2147483647",
      "--listen-unix",
      join(work, "a.sock"),
      "serve",
    ],
    { stdio: "ignore" },
  );
  procs.push(srv);
  const ch = await GuestChannel.connectUnix(join(work, "a.sock"), { connectRetryMs: 5000 });
  try {
    const deadline = Date.now() + 30_000;
    let state = (await ch.services())[0];
    while (!(state?.running && state.restarts >= 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      state = (await ch.services())[0];
    }
    assert.equal(state?.name, "flaky");
    assert.equal(state?.running, true, JSON.stringify(state));
    assert.equal(state?.restarts, 2, "two exits, two restarts");
    assert.equal(state?.last_exit, "exit 7");
    assert.equal(
      readFileSync(join(out, "pre"), "utf8").split("\n").length - 1,
      4,
      "preStart: 1 failure + 3 starts",
    );
    const child = Number(readFileSync(join(out, "child"), "utf8"));
    process.kill(child, 0);

    sup.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => sup.on("exit", (c) => r(c)));
    assert.equal(code, 0);
    // Gone, or a zombie waiting for this host's init to reap it.
    const alive = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${child}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    const until = Date.now() + 5000;
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(), false, "the service's background child was stopped with it");
    assert.equal((await ch.services())[0]?.running, false);
  } finally {
    ch.close();
  }
});
