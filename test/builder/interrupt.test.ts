import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CLI } from "../helpers/cli.js";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, nonce, readJson, scratch, sha256 } from "../helpers/scratch.js";

// SIGKILL and Ctrl-C at any moment of a build leave the previous revision current and intact; the
// next build cleans up and succeeds.

function startBuild(data: string, template: string) {
  const child = spawn(process.execPath, [CLI, "template", "build", template], {
    env: { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) =>
    child.on("close", (code, signal) => res({ code, signal, stderr })),
  );
  return { child, done };
}

/** Every visible revision is complete and matches its checksums; current names one of them. */
function assertConsistent(data: string, template: string): string {
  const revsDir = join(data, "templates", template, "artifacts", "revisions");
  for (const rev of readdirSync(revsDir).filter((e) => !e.startsWith("."))) {
    const dir = join(revsDir, rev);
    const sums = readJson<{ files: Record<string, string> }>(join(dir, "checksums.json")).files;
    for (const [f, h] of Object.entries(sums)) assert.equal(sha256(join(dir, f)), h, `${rev}/${f}`);
    assert.equal(readJson<{ revision_hash: string }>(join(dir, "revision.json")).revision_hash, rev);
  }
  const target = readlinkSync(join(data, "templates", template, "current"));
  assert.ok(existsSync(join(data, "templates", template, target, "rootfs.ext4")), `current → ${target}`);
  return target;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("interrupted builds", () => {
  test("SIGKILL at moments spread over a build: previous revision current and intact", async () => {
    const root = scratch("mvm-build-kill-");
    const data = join(root, "data");
    const flake = join(root, "flake");
    const cli = cliFor(data);
    const n = nonce();
    writeFakeFlake(flake, { nonce: n, packages: { default: { rootfs: "tree", salt: "base" } } });
    assert.equal((await cli(["template", "create", "k", "--flake", flake])).code, 0);
    const t0 = Date.now();
    assert.equal((await cli(["template", "build", "k"])).code, 0);
    const full = Date.now() - t0;
    let current = assertConsistent(data, "k");
    const delays = [0.2, 0.45, 0.7, 0.9].map((f) => Math.round(f * full));
    for (const [i, delay] of delays.entries()) {
      writeFakeFlake(flake, { nonce: n, packages: { default: { rootfs: "tree", salt: `kill-${i}` } } });
      const b = startBuild(data, "k");
      await sleep(delay);
      b.child.kill("SIGKILL");
      const r = await b.done;
      const now = assertConsistent(data, "k");
      // Either the kill came first (current unchanged) or the build had already finished.
      if (r.signal === "SIGKILL") assert.ok(now === current || r.stderr.includes("built successfully"), now);
      current = now;
    }
    // The next build sweeps what the killed ones left and succeeds.
    writeFakeFlake(flake, { nonce: n, packages: { default: { rootfs: "tree", salt: "after" } } });
    const r = await cli(["template", "build", "k"]);
    assert.equal(r.code, 0, r.stderr);
    assertConsistent(data, "k");
    const hidden = readdirSync(join(data, "templates", "k", "artifacts", "revisions")).filter((e) =>
      e.startsWith("."),
    );
    assert.deepEqual(hidden, [], "no staging directories left");
  });

  test("Ctrl-C during nix: exit 130, nothing staged, the lock released", async () => {
    const root = scratch("mvm-build-int-");
    const data = join(root, "data");
    const flake = join(root, "flake");
    const cli = cliFor(data);
    const n = nonce();
    writeFakeFlake(flake, { nonce: n, packages: { default: { salt: "one" } } });
    assert.equal((await cli(["template", "create", "c", "--flake", flake])).code, 0);
    assert.equal((await cli(["template", "build", "c"])).code, 0);
    const before = assertConsistent(data, "c");
    writeFakeFlake(flake, { nonce: n, packages: { default: { salt: "two", sleep: 5 } } });
    const b = startBuild(data, "c");
    for (let i = 0; i < 100 && !b.child.killed; i++) {
      await sleep(100);
      if (existsSync(join(data, "logs")) && readdirSync(join(data, "logs")).length >= 2) break;
    }
    await sleep(800); // nix is running the sleeping builder
    b.child.kill("SIGINT");
    const r = await b.done;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(assertConsistent(data, "c"), before);
    // The lock was released: a new build does not wait for the dead one (MVM_LOCK_TIMEOUT_MS=0).
    writeFakeFlake(flake, { nonce: n, packages: { default: { salt: "three" } } });
    const again = await cli(["template", "build", "c"], { env: { MVM_LOCK_TIMEOUT_MS: "0" } });
    assert.equal(again.code, 0, again.stderr);
    assert.notEqual(assertConsistent(data, "c"), before);
  });
});
