import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { acquireLock } from "../../src/store/lock.js";
import { DataPaths } from "../../src/store/paths.js";
import { runCli, tempDir } from "../helpers/cli.js";

test("a second writer waits a bounded time, then fails naming the holder's pid", async () => {
  const data = tempDir();
  await runCli(["template", "create", "t", "--flake", "github:a/b"], { dataDir: data });
  const lockPath = new DataPaths(data).lock("t");
  const lock = await acquireLock(lockPath, { what: "template t" });
  try {
    const started = Date.now();
    const r = await runCli(["template", "edit", "t", "--cpus", "3"], {
      dataDir: data,
      env: { MVM_LOCK_TIMEOUT_MS: "400" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: template t is locked by pid ${process.pid}$`, "m"));
    assert.ok(Date.now() - started >= 400, "it waited before giving up");
  } finally {
    await lock.release();
  }
  const ok = await runCli(["template", "edit", "t", "--cpus", "3"], { dataDir: data });
  assert.equal(ok.code, 0, ok.stderr);
});

test("a lock left by a dead process is recovered", async () => {
  const data = tempDir();
  await runCli(["template", "create", "t", "--flake", "github:a/b"], { dataDir: data });
  const lockPath = new DataPaths(data).lock("t");
  // A process that exits at once leaves its pid unused.
  const dead = spawn(process.execPath, ["-e", "0"]);
  const deadPid: number = await new Promise((r) => dead.on("exit", () => r(dead.pid!)));
  await mkdir(join(data, "locks"), { recursive: true });
  writeFileSync(lockPath, JSON.stringify({ pid: deadPid, start: "1", cmd: "template edit t" }));
  const r = await runCli(["template", "edit", "t", "--mem", "2G"], {
    dataDir: data,
    env: { MVM_LOCK_TIMEOUT_MS: "200" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(new DataPaths(data).spec("t"), "utf8")).mem_mib, 2048);
});

test("many concurrent edits, some killed with SIGKILL: every template.json parses and info works", async () => {
  const data = tempDir();
  const names = ["c1", "c2", "c3"];
  for (const n of names) await runCli(["template", "create", n, "--flake", "github:a/b"], { dataDir: data });
  const { CLI } = await import("../helpers/cli.js");
  let killed = 0;
  const procs = Array.from({ length: 30 }, (_, i) => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        "template",
        "edit",
        names[i % names.length]!,
        "--cpus",
        String((i % 32) + 1),
        "--mem",
        `${128 + i}`,
      ],
      { env: { ...process.env, MVM_DATA_DIR: data, MVM_LOCK_TIMEOUT_MS: "30000" }, stdio: "ignore" },
    );
    if (i % 3 === 0) {
      setTimeout(
        () => {
          if (child.exitCode === null && child.kill("SIGKILL")) killed++;
        },
        20 + Math.floor(Math.random() * 400),
      );
    }
    return new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  });
  const codes = await Promise.all(procs);
  assert.ok(killed > 0, "some processes were killed");
  // Survivors either succeeded or (never here with a 30 s wait) failed cleanly.
  for (const c of codes) assert.ok(c === 0 || c === null, `unexpected exit ${c}`);
  for (const n of names) {
    const spec = JSON.parse(readFileSync(new DataPaths(data).spec(n), "utf8"));
    assert.equal(spec.template_id, n);
    const info = await runCli(["template", "info", n, "--json"], { dataDir: data });
    assert.equal(info.code, 0, info.stderr);
    // Locks of killed writers do not block the next writer.
    const edit = await runCli(["template", "edit", n, "--cpus", "1"], {
      dataDir: data,
      env: { MVM_LOCK_TIMEOUT_MS: "2000" },
    });
    assert.equal(edit.code, 0, edit.stderr);
  }
  const list = JSON.parse((await runCli(["template", "list", "--json"], { dataDir: data })).stdout);
  assert.deepEqual(list.vm, names);
  assert.deepEqual(list.broken, []);
});
